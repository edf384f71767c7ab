package asgserver

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"time"
)

// The XML shapes below are the elements the SDK's query-protocol
// deserializer reads (see the SDK module's response_snapshot files); lists
// are wrapped in <member> elements.

const xmlns = "http://autoscaling.amazonaws.com/doc/2011-01-01/"

type xmlGroup struct {
	AutoScalingGroupName string        `xml:"AutoScalingGroupName"`
	AutoScalingGroupARN  string        `xml:"AutoScalingGroupARN"`
	MinSize              int32         `xml:"MinSize"`
	MaxSize              int32         `xml:"MaxSize"`
	DesiredCapacity      int32         `xml:"DesiredCapacity"`
	DefaultCooldown      int32         `xml:"DefaultCooldown"`
	AvailabilityZones    []string      `xml:"AvailabilityZones>member"`
	HealthCheckType      string        `xml:"HealthCheckType"`
	CreatedTime          string        `xml:"CreatedTime"`
	Instances            []xmlInstance `xml:"Instances>member"`
	Tags                 []xmlTag      `xml:"Tags>member"`
}

type xmlInstance struct {
	AutoScalingGroupName string `xml:"AutoScalingGroupName,omitempty"` // DescribeAutoScalingInstances only
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string `xml:"InstanceType,omitempty"`
	AvailabilityZone     string `xml:"AvailabilityZone"`
	LifecycleState       string `xml:"LifecycleState"`
	HealthStatus         string `xml:"HealthStatus"`
	ProtectedFromScaleIn bool   `xml:"ProtectedFromScaleIn"`
}

type xmlTag struct {
	Key               string `xml:"Key"`
	Value             string `xml:"Value"`
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string `xml:"ResourceType"`
	PropagateAtLaunch bool   `xml:"PropagateAtLaunch"`
}

type xmlActivity struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string `xml:"AutoScalingGroupName"`
	Cause                string `xml:"Cause"`
	Description          string `xml:"Description"`
	StartTime            string `xml:"StartTime"`
	EndTime              string `xml:"EndTime,omitempty"`
	StatusCode           string `xml:"StatusCode"`
	StatusMessage        string `xml:"StatusMessage,omitempty"`
	Progress             int32  `xml:"Progress"`
}

type describeGroupsResult struct {
	Groups    []xmlGroup `xml:"AutoScalingGroups>member"`
	NextToken string     `xml:"NextToken,omitempty"`
}

type describeInstancesResult struct {
	Instances []xmlInstance `xml:"AutoScalingInstances>member"`
	NextToken string        `xml:"NextToken,omitempty"`
}

type describeActivitiesResult struct {
	Activities []xmlActivity `xml:"Activities>member"`
	NextToken  string        `xml:"NextToken,omitempty"`
}

type terminateResult struct {
	Activity   *xmlActivity  `xml:"Activity,omitempty"`
	Activities []xmlActivity `xml:"Activities>member"`
}

type emptyResult struct{}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// writeResult answers <Action>Response/<Action>Result with result inside,
// as AWS does.
func writeResult(w http.ResponseWriter, action, requestID string, result any) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	enc := xml.NewEncoder(w)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: xmlns}}}
	_ = enc.EncodeToken(start)
	_ = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	_ = enc.EncodeElement(struct {
		RequestID string `xml:"RequestId"`
	}{requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.EncodeToken(start.End())
	_ = enc.Flush()
}

// apiError is an AWS error document.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func senderError(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

func validationError(format string, args ...any) *apiError {
	return senderError("ValidationError", format, args...)
}

func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	type xmlError struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	doc := struct {
		XMLName   xml.Name `xml:"ErrorResponse"`
		Xmlns     string   `xml:"xmlns,attr"`
		Error     xmlError `xml:"Error"`
		RequestID string   `xml:"RequestId"`
	}{Xmlns: xmlns, Error: xmlError{typ, e.code, e.message}, RequestID: requestID}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(e.status)
	_ = xml.NewEncoder(w).Encode(doc)
}
