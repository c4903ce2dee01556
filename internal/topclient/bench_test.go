package topclient

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// benchTagListBody is a realistic worker.taglist.get answer in TOP's normal
// JSON (list wrapped, as live TOP sends it without simplify).
const benchTagListBody = `{"tmall_servicecenter_worker_taglist_get_response":{"result":{"result_data":{"black_list":false,` +
	`"degradation":false,"ability_map":"\"tv_install\":{\"effective\":true,\"serviceCode\":\"tv_install\",\"abilityLevel\":4}",` +
	`"vip":true,"big_promotion":true,"home_worker_tags":{"worker_manage_rule_d_t_o":[{"name":"black",` +
	`"begin_time":"2024-12-20 17:42:01","end_time":"2024-12-23 17:42:01"}]}},"msg_code":"0","msg_info":"ok","success":true},` +
	`"request_id":"16mz8vwhbj5re"}}`

// benchUpstream is the gateway both the client and the floor call: it reads
// the request and writes a fixed answer, doing as little as it can so that
// the numbers are the callers'.
func benchUpstream(b *testing.B) *httptest.Server {
	b.Helper()
	body := []byte(benchTagListBody)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = []string{"application/json;charset=UTF-8"}
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

func benchClient(b *testing.B, rawURL string, m top.SignMethod) *Client {
	b.Helper()
	c, err := New(Config{URL: rawURL + "/router/rest", AppKey: testAppKey, AppSecret: testSecret, Session: testSession, SignMethod: m})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

// BenchmarkEncodeSignDecode measures the client's own work per call, no
// network: business and system parameters, sort, sign, form body, and
// decoding the answer into the typed response.
func BenchmarkEncodeSignDecode(b *testing.B) {
	body := []byte(benchTagListBody)
	for _, m := range []top.SignMethod{top.SignMD5, top.SignHMACSHA256} {
		b.Run(string(m), func(b *testing.B) {
			c := benchClient(b, "http://127.0.0.1:1", m)
			req := top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}
			b.ReportAllocs()
			for b.Loop() {
				st := c.getState()
				st.params, _ = req.AppendParams(st.params[:0])
				if err := c.encode(st, top.MethodWorkerTagList, true, c.now()); err != nil {
					b.Fatal(err)
				}
				var out top.TagListGetResponse
				if apiErr, err := top.DecodeEnvelope(top.MethodWorkerTagList, body, &out); err != nil || apiErr != nil {
					b.Fatal(err, apiErr)
				}
				c.putState(st)
			}
		})
	}
}

// BenchmarkCallTagList is one caller making GetWorkerTags calls over
// loopback HTTP; compare with BenchmarkFloorTagList.
func BenchmarkCallTagList(b *testing.B) {
	srv := benchUpstream(b)
	for _, m := range []top.SignMethod{top.SignMD5, top.SignHMACSHA256} {
		b.Run(string(m), func(b *testing.B) {
			c := benchClient(b, srv.URL, m)
			ctx := context.Background()
			req := top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := top.Do(ctx, c, top.WorkerTagList, &req)
				if err != nil || !resp.Result.Success {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCallParallel64 is 64 concurrent callers making GetWorkerTags
// calls over loopback HTTP; compare calls/s with BenchmarkFloorParallel64.
func BenchmarkCallParallel64(b *testing.B) {
	srv := benchUpstream(b)
	for _, m := range []top.SignMethod{top.SignMD5, top.SignHMACSHA256} {
		b.Run(string(m), func(b *testing.B) {
			c := benchClient(b, srv.URL, m)
			ctx := context.Background()
			runParallel64(b, func() error {
				req := top.TagListGetRequest{IDNumber: testID, Mobile: testPhone}
				resp, err := top.Do(ctx, c, top.WorkerTagList, &req)
				if err == nil && !resp.Result.Success {
					err = errors.New("not success")
				}
				return err
			})
		})
	}
}

// runParallel64 runs call from 64 goroutines and reports calls/s.
func runParallel64(b *testing.B, call func() error) {
	b.Helper()
	const callers = 64
	b.SetParallelism((callers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// The floor: a minimal hand-written TOP call, as a careful engineer would
// write it without an SDK: url.Values, sort, md5 sign, form-encode, POST
// through a pooled net/http client, decode into a small struct.

type floorClient struct {
	http                         *http.Client
	url, appKey, secret, session string
	loc                          *time.Location
}

type floorTagList struct {
	Resp *struct {
		Result struct {
			ResultData struct {
				BlackList      bool   `json:"black_list"`
				Degradation    bool   `json:"degradation"`
				AbilityMap     string `json:"ability_map"`
				Vip            bool   `json:"vip"`
				BigPromotion   bool   `json:"big_promotion"`
				HomeWorkerTags struct {
					Items []struct {
						Name      string `json:"name"`
						BeginTime string `json:"begin_time"`
						EndTime   string `json:"end_time"`
					} `json:"worker_manage_rule_d_t_o"`
				} `json:"home_worker_tags"`
			} `json:"result_data"`
			MsgCode string `json:"msg_code"`
			MsgInfo string `json:"msg_info"`
			Success bool   `json:"success"`
		} `json:"result"`
		RequestID string `json:"request_id"`
	} `json:"tmall_servicecenter_worker_taglist_get_response"`
	Err *struct {
		Code    int    `json:"code"`
		Msg     string `json:"msg"`
		SubCode string `json:"sub_code"`
		SubMsg  string `json:"sub_msg"`
	} `json:"error_response"`
}

func newFloorClient(b *testing.B, rawURL string) *floorClient {
	b.Helper()
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 1024, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	b.Cleanup(tr.CloseIdleConnections)
	return &floorClient{
		http: &http.Client{Transport: tr}, // no Timeout: the strictest floor
		url:  rawURL + "/router/rest", appKey: testAppKey, secret: testSecret, session: testSession,
		loc: time.FixedZone("UTC+8", 8*3600),
	}
}

func (f *floorClient) tagList(ctx context.Context, idNumber, mobile string) (*floorTagList, error) {
	v := url.Values{}
	v.Set("method", "tmall.servicecenter.worker.taglist.get")
	v.Set("app_key", f.appKey)
	v.Set("session", f.session)
	v.Set("timestamp", time.Now().In(f.loc).Format("2006-01-02 15:04:05"))
	v.Set("format", "json")
	v.Set("v", "2.0")
	v.Set("sign_method", "md5")
	v.Set("id_number", idNumber)
	v.Set("mobile", mobile)
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := md5.New()
	h.Write([]byte(f.secret))
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte(v.Get(k)))
	}
	h.Write([]byte(f.secret))
	v.Set("sign", strings.ToUpper(hex.EncodeToString(h.Sum(nil))))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	var out floorTagList
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	if out.Err != nil {
		return nil, errors.New(out.Err.Msg)
	}
	if out.Resp == nil || !out.Resp.Result.Success {
		return nil, errors.New("no success")
	}
	return &out, nil
}

// BenchmarkFloorTagList is the floor's single caller; compare with
// BenchmarkCallTagList/md5.
func BenchmarkFloorTagList(b *testing.B) {
	srv := benchUpstream(b)
	f := newFloorClient(b, srv.URL)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.tagList(ctx, testID, testPhone); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorParallel64 is the floor with 64 concurrent callers;
// compare calls/s with BenchmarkCallParallel64/md5.
func BenchmarkFloorParallel64(b *testing.B) {
	srv := benchUpstream(b)
	f := newFloorClient(b, srv.URL)
	ctx := context.Background()
	runParallel64(b, func() error {
		_, err := f.tagList(ctx, testID, testPhone)
		return err
	})
}
