// Package scheme registers carve's plugin args with kube-scheduler's config
// scheme, so that a KubeSchedulerConfiguration naming WorkspaceQueueArgs or
// BinPackArgs is decoded strictly, defaulted and converted before the
// plugins are built. Importing it (as cmd/carve-scheduler does) is enough.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	kubeschedulerscheme "k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	kubeschedulerconfigv1 "k8s.io/kubernetes/pkg/scheduler/apis/config/v1"

	"github.com/carve-dev/carve/pkg/apis/config"
	configv1 "github.com/carve-dev/carve/pkg/apis/config/v1"
)

func init() {
	// Decoding reads args through kube-scheduler's Scheme; defaulting and
	// conversion to the internal version go through a second scheme it
	// keeps for plugin args. Both must know carve's kinds.
	AddToScheme(kubeschedulerscheme.Scheme)
	AddToScheme(kubeschedulerconfigv1.GetPluginArgConversionScheme())
}

// AddToScheme adds the internal and v1 plugin args to s.
func AddToScheme(s *runtime.Scheme) {
	utilruntime.Must(config.AddToScheme(s))
	utilruntime.Must(configv1.AddToScheme(s))
}
