package armserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
)

const apiVersion = "2025-02-01"

// Kinds of call, as Calls counts them.
const (
	CallListAgentPools = "list agentPools"
	CallGetAgentPool   = "get agentPool"
	CallPutAgentPool   = "put agentPool"
	CallDeleteMachines = "deleteMachines"
	CallListMachines   = "list machines"
	CallPollOperation  = "poll operation"
	CallOther          = "other"
)

// Fault is an answer the server gives instead of the real one.
type Fault struct {
	// Call is the kind of call it answers (Call… constants).
	Call string
	// Times is how many such calls it answers (0: one).
	Times int
	// Status, Header and Code make the answer: an ARM error body with Code
	// (when set) and the status.
	Status int
	Header http.Header
	Code   string
	// Hang makes the server answer nothing until the client gives up.
	Hang bool
}

// Server serves a Cloud over HTTPS with ARM's wire protocol.
type Server struct {
	*Cloud
	TLS *httptest.Server
	// PageSize splits lists into pages linked by nextLink (0: one page).
	PageSize int
	// LocationOnly makes deleteMachines answer with a Location header only
	// (no Azure-AsyncOperation), polled by status code.
	LocationOnly bool

	mu          sync.Mutex
	calls       map[string]int
	faults      []*Fault
	lastIfMatch string
}

// LastIfMatch is the If-Match header of the last agent pool PUT.
func (s *Server) LastIfMatch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastIfMatch
}

// NewServer starts a TLS server for a new, empty cloud; it is closed when
// the test ends.
func NewServer(t interface{ Cleanup(func()) }) *Server {
	s := &Server{Cloud: NewCloud(), calls: map[string]int{}}
	s.TLS = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.TLS.Close)
	return s
}

// ClientOptions point the SDK at the server: its URL as the
// ResourceManager endpoint, its TLS client as the transport.
func (s *Server) ClientOptions() arm.ClientOptions {
	return arm.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: s.TLS.URL,
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Audience: s.TLS.URL, Endpoint: s.TLS.URL},
				},
			},
			Transport: s.TLS.Client(),
		},
		DisableRPRegistration: true,
	}
}

// Inject queues a fault; faults answer in the order injected.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults = append(s.faults, &f)
}

// Calls is how many calls of each kind the server answered (faults
// included).
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Total is the number of calls the server answered.
func (s *Server) Total() int {
	n := 0
	for _, v := range s.Calls() {
		n += v
	}
	return n
}

// ResetCalls zeroes the counts.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

var (
	rePool     = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.ContainerService/managedClusters/([^/]+)/agentPools(?:/([^/]+))?(/deleteMachines|/machines)?$`)
	reOp       = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/providers/Microsoft\.ContainerService/locations/[^/]+/(operations|operationresults)/([^/]+)$`)
	skipTokenQ = "$skipToken"
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	kind, m := s.route(r)
	s.mu.Lock()
	s.calls[kind]++
	if kind == CallPutAgentPool {
		s.lastIfMatch = r.Header.Get("If-Match")
	}
	var fault *Fault
	for i, f := range s.faults {
		if f.Call == kind {
			fault = f
			if f.Times--; f.Times == 0 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			}
			break
		}
	}
	s.mu.Unlock()
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeError(w, &Error{Status: 401, Code: "AuthenticationFailed", Message: "no bearer token"})
		return
	}
	if fault != nil {
		if fault.Hang {
			<-r.Context().Done()
			return
		}
		for k, vs := range fault.Header {
			w.Header()[k] = vs
		}
		writeError(w, &Error{Status: fault.Status, Code: fault.Code, Message: "injected fault"})
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, &Error{Status: 400, Code: "MissingApiVersionParameter", Message: "The api-version query parameter is required."})
		return
	}
	switch kind {
	case CallListAgentPools:
		aps, err := s.List(m[1], m[2], m[3])
		if err != nil {
			writeError(w, err)
			return
		}
		s.writePage(w, r, len(aps), func(from, to int) any { return aps[from:to] })
	case CallGetAgentPool:
		ap, err := s.Get(m[1], m[2], m[3], m[4])
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, ap)
	case CallPutAgentPool:
		var body armcontainerservice.AgentPool
		if err := decode(r, &body); err != nil {
			writeError(w, &Error{Status: 400, Code: "InvalidRequestContent", Message: err.Error()})
			return
		}
		ap, op, err := s.Put(m[1], m[2], m[3], m[4], body, r.Header.Get("If-Match"))
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Azure-AsyncOperation", s.opURL(m[1], "operations", op.ID))
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusCreated, ap)
	case CallDeleteMachines:
		var body armcontainerservice.AgentPoolDeleteMachinesParameter
		if err := decode(r, &body); err != nil {
			writeError(w, &Error{Status: 400, Code: "InvalidRequestContent", Message: err.Error()})
			return
		}
		var names []string
		for _, n := range body.MachineNames {
			if n != nil {
				names = append(names, *n)
			}
		}
		op, err := s.Cloud.DeleteMachines(m[1], m[2], m[3], m[4], names)
		if err != nil {
			writeError(w, err)
			return
		}
		if !s.LocationOnly {
			w.Header().Set("Azure-AsyncOperation", s.opURL(m[1], "operations", op.ID))
		}
		w.Header().Set("Location", s.opURL(m[1], "operationresults", op.ID))
		w.Header().Set("Retry-After", "10")
		w.WriteHeader(http.StatusAccepted)
	case CallListMachines:
		ms, err := s.Cloud.Machines(m[1], m[2], m[3], m[4])
		if err != nil {
			writeError(w, err)
			return
		}
		s.writePage(w, r, len(ms), func(from, to int) any { return ms[from:to] })
	case CallPollOperation:
		s.serveOp(w, m)
	default:
		writeError(w, &Error{Status: 404, Code: "NotFound", Message: "no such API in the test server: " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) route(r *http.Request) (string, []string) {
	if m := rePool.FindStringSubmatch(r.URL.Path); m != nil {
		switch {
		case m[4] == "" && r.Method == http.MethodGet:
			return CallListAgentPools, m
		case strings.EqualFold(m[5], "/deleteMachines") && r.Method == http.MethodPost:
			return CallDeleteMachines, m
		case strings.EqualFold(m[5], "/machines") && r.Method == http.MethodGet:
			return CallListMachines, m
		case m[5] == "" && r.Method == http.MethodGet:
			return CallGetAgentPool, m
		case m[5] == "" && r.Method == http.MethodPut:
			return CallPutAgentPool, m
		}
	}
	if m := reOp.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodGet {
		return CallPollOperation, m
	}
	return CallOther, nil
}

func (s *Server) opURL(sub, kind, id string) string {
	return fmt.Sprintf("%s/subscriptions/%s/providers/Microsoft.ContainerService/locations/%s/%s/%s?api-version=%s", s.TLS.URL, sub, Location, kind, id, apiVersion)
}

// serveOp answers a poll: an operation status document on …/operations/,
// 202 / 204 / an error on …/operationresults/ (the Location protocol).
func (s *Server) serveOp(w http.ResponseWriter, m []string) {
	op := s.pollOp(m[3])
	if op == nil {
		writeError(w, &Error{Status: 404, Code: "NotFound", Message: "no operation " + m[3]})
		return
	}
	if strings.EqualFold(m[2], "operationresults") {
		switch op.Status {
		case InProgress:
			w.Header().Set("Location", s.opURL(m[1], "operationresults", op.ID))
			w.Header().Set("Retry-After", "10")
			w.WriteHeader(http.StatusAccepted)
		case Succeeded:
			w.WriteHeader(http.StatusNoContent)
		default:
			status := op.Err.Status
			if status < 400 {
				status = http.StatusBadRequest
			}
			writeError(w, &Error{Status: status, Code: op.Err.Code, Message: op.Err.Message, Details: op.Err.Details})
		}
		return
	}
	doc := map[string]any{"id": m[0], "name": op.ID, "status": op.Status, "startTime": time.Now().UTC().Format(time.RFC3339)}
	if op.Err != nil {
		doc["error"] = errorBody(*op.Err)
	}
	writeJSON(w, http.StatusOK, doc)
}

// writePage writes items [skip, skip+PageSize) and a nextLink when more
// follow.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, n int, slice func(from, to int) any) {
	from, _ := strconv.Atoi(r.URL.Query().Get(skipTokenQ))
	from = min(max(from, 0), n)
	to := n
	if s.PageSize > 0 {
		to = min(n, from+s.PageSize)
	}
	page := map[string]any{"value": slice(from, to)}
	if to < n {
		u := *r.URL
		q := u.Query()
		q.Set(skipTokenQ, strconv.Itoa(to))
		u.RawQuery = q.Encode()
		page["nextLink"] = s.TLS.URL + u.RequestURI()
	}
	writeJSON(w, http.StatusOK, page)
}

func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.Code != "" {
		w.Header().Set("x-ms-error-code", e.Code)
	}
	writeJSON(w, e.Status, map[string]any{"error": errorBody(*e)})
}

func errorBody(e Error) map[string]any {
	b := map[string]any{"code": e.Code, "message": e.Message}
	if len(e.Details) > 0 {
		var ds []map[string]any
		for _, d := range e.Details {
			ds = append(ds, errorBody(d))
		}
		b["details"] = ds
	}
	return b
}
