// Package floor holds the two minimal servers that `make bench`
// measures servicecenterd against: Upstream, a net/http TOP gateway that
// answers every call with a fixed, valid TOP envelope (signatures are not
// checked), and Floor, the least a gRPC gateway in front of TOP can do: a
// plain grpc-go unary server (no interceptors) whose handlers make one
// HTTP POST to the upstream, read the answer and return a fixed response.
// Floor does not sign, validate, decode TOP's JSON or log: it is the cost
// of the two network hops, not a rival implementation.
package floor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/top"
)

// TagListBody is the upstream's answer to worker.taglist.get: TOP's normal
// JSON shape (list wrapped) with a two-ability ability_map, as the
// embedded emulator answers for its demo worker.
const TagListBody = `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"result_data":{"black_list":false,` +
	`"degradation":false,"ability_map":"\"ac_install\":{\"effective\":false,\"serviceCode\":\"ac_install\",\"abilityLevel\":2},` +
	`\"tv_install\":{\"effective\":true,\"serviceCode\":\"tv_install\",\"abilityLevel\":4}","vip":true,"big_promotion":true,` +
	`"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"vip","begin_time":"2024-12-20 17:42:01",` +
	`"end_time":"2030-12-31 23:59:59"}]}},"msg_code":"0","msg_info":"ok","success":true},"request_id":"bench0taglist"}}`

// AssignWorkerBody is the upstream's answer to workcard.assignworker.
const AssignWorkerBody = `{"tmall_servicecenter_workcard_assignworker_response":{"result":{"success":true,"msg_code":"0",` +
	`"msg_info":"ok"},"request_id":"bench0assign"}}`

// unknownBody answers any other method, as TOP does (code 22).
const unknownBody = `{"error_response":{"code":22,"msg":"Invalid method","request_id":"bench0unknown"}}`

// Upstream is the fixed TOP gateway. It reads the whole request, picks the
// answer by the method named in the form body (or query), and writes it.
type Upstream struct {
	bufs sync.Pool // *bytes.Buffer
}

// NewUpstream returns the fixed TOP gateway handler.
func NewUpstream() *Upstream {
	u := &Upstream{}
	u.bufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 2048)) }
	return u
}

var (
	tagListBody    = []byte(TagListBody)
	assignBody     = []byte(AssignWorkerBody)
	unknownAnswer  = []byte(unknownBody)
	tagListParam   = []byte(top.ParamMethod + "=" + url.QueryEscape(top.MethodWorkerTagList))
	assignParam    = []byte(top.ParamMethod + "=" + url.QueryEscape(top.MethodAssignWorker))
	jsonHeaderVals = []string{"application/json;charset=UTF-8"}
)

// ServeHTTP implements http.Handler.
func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := u.bufs.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		u.bufs.Put(buf)
	}()
	_, _ = buf.ReadFrom(io.LimitReader(r.Body, 1<<20))
	body := answer(buf.Bytes())
	if body == nil {
		body = answer([]byte(r.URL.RawQuery))
	}
	if body == nil {
		body = unknownAnswer
	}
	h := w.Header()
	h["Content-Type"] = jsonHeaderVals
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

// answer is the fixed answer to the method named in form, nil when it
// names neither of the two.
func answer(form []byte) []byte {
	switch {
	case hasParam(form, tagListParam):
		return tagListBody
	case hasParam(form, assignParam):
		return assignBody
	}
	return nil
}

// hasParam reports whether the form b holds the pair p ("key=value") as a
// whole pair.
func hasParam(b, p []byte) bool {
	for {
		i := bytes.Index(b, p)
		if i < 0 {
			return false
		}
		end := i + len(p)
		if (i == 0 || b[i-1] == '&') && (end == len(b) || b[end] == '&') {
			return true
		}
		b = b[i+1:]
	}
}

// Floor is the minimal gRPC gateway: WorkerService.GetWorkerTags and
// WorkcardService.AssignWorker each POST one small form to the upstream
// through a pooled net/http client and answer success once the whole
// answer has been read with status 200.
type Floor struct {
	url    string
	client *http.Client
}

// NewFloor returns a Floor calling the upstream at rawURL (e.g.
// http://127.0.0.1:8800/router/rest). Its transport keeps up to 1024 idle
// connections per host, so that no concurrency level pays for new
// connections.
func NewFloor(rawURL string) *Floor {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Floor{url: rawURL, client: &http.Client{Transport: tr}}
}

// Register registers the floor's two services on s.
func (f *Floor) Register(s *grpc.Server) {
	scv1.RegisterWorkerServiceServer(s, &floorWorkers{f: f})
	scv1.RegisterWorkcardServiceServer(s, &floorWorkcards{f: f})
}

// Close closes the idle upstream connections.
func (f *Floor) Close() { f.client.CloseIdleConnections() }

// post sends form to the upstream and reads the whole answer.
func (f *Floor) post(ctx context.Context, form string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewBufferString(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", top.FormContentType)
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream status %d", resp.StatusCode)
	}
	return nil
}

type floorWorkers struct {
	scv1.UnimplementedWorkerServiceServer
	f *Floor
}

// GetWorkerTags implements scv1.WorkerServiceServer.
func (w *floorWorkers) GetWorkerTags(ctx context.Context, req *scv1.GetWorkerTagsRequest) (*scv1.GetWorkerTagsResponse, error) {
	form := "method=" + top.MethodWorkerTagList + "&id_number=" + url.QueryEscape(req.GetIdNumber()) +
		"&mobile=" + url.QueryEscape(req.GetMobile())
	if err := w.f.post(ctx, form); err != nil {
		return nil, err
	}
	return &scv1.GetWorkerTagsResponse{Success: true}, nil
}

type floorWorkcards struct {
	scv1.UnimplementedWorkcardServiceServer
	f *Floor
}

// AssignWorker implements scv1.WorkcardServiceServer.
func (w *floorWorkcards) AssignWorker(ctx context.Context, req *scv1.AssignWorkerRequest) (*scv1.AssignWorkerResponse, error) {
	form := "method=" + top.MethodAssignWorker + "&workcard_id=" + strconv.FormatInt(req.GetWorkcardId(), 10) +
		"&target_worker_id=" + strconv.FormatInt(req.GetTargetWorkerId(), 10) +
		"&type=" + strconv.Itoa(int(req.GetType()))
	if err := w.f.post(ctx, form); err != nil {
		return nil, err
	}
	return &scv1.AssignWorkerResponse{Success: true}, nil
}
