package eks

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// bodyGuard works around a race between the SDK and net/http. The SDK
// closes a request's body as soon as the response headers arrive, and its
// body's WriteTo returns io.EOF once closed, which io.Copy passes on as an
// error. When the answer comes before the transport's write loop has made
// its final read of the body (a server that answers as soon as it has the
// whole body: common on loopback, possible at AWS), that read fails, the
// write loop closes the connection, and reading the answer fails with
// "use of closed network connection" (TestManyPagedReads). Hiding WriteTo
// makes the transport read the body with Read, whose io.EOF ends the copy
// cleanly.
type bodyGuard struct{ client aws.HTTPClient }

func (g bodyGuard) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readOnlyBody{r.Body}
	}
	return g.client.Do(r)
}

// readOnlyBody is a ReadCloser and nothing else.
type readOnlyBody struct{ io.ReadCloser }
