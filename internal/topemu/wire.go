package topemu

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// maxBodyBytes bounds a /router/rest request body.
const maxBodyBytes = 16 << 20

// timestampWindow is how far a request's timestamp may be from the
// emulator's clock, as TOP allows.
const timestampWindow = 10 * time.Minute

// answer is what the emulator replies to one call.
type answer struct {
	// resp is a top response (success envelope), or nil.
	resp top.Response
	// err is an error_response, or nil.
	err *top.ErrorResponse
	// status is the HTTP status; 0 is 200.
	status int
	// fault names the injected fault, if any.
	fault string
}

// topError builds an error answer with TOP's message for code.
func topError(code int, subCode, subMsg string) answer {
	return answer{err: &top.ErrorResponse{Code: code, Msg: top.Message(code), SubCode: subCode, SubMsg: subMsg}}
}

// missingParam is TOP's gateway answer to a missing required parameter.
func missingParam(name string) answer {
	return topError(top.CodeMissingRequiredArguments, top.SubCodeMissingParameter, "missing required parameter: "+name)
}

// invalidParam is TOP's gateway answer to a parameter that cannot be decoded.
func invalidParam(err error) answer {
	return topError(top.CodeInvalidArguments, top.SubCodeInvalidParameter, err.Error())
}

// remoteInvalid is TOP's answer when the back end rejects a business
// parameter: a remote service error with an isv.* sub_code, as in the API
// documents' error example.
func remoteInvalid(subCode, what string) answer {
	return topError(top.CodeRemoteServiceError, subCode, "非法参数: "+what)
}

// serveTOP serves /router/rest. The checks run in TOP's order; the first
// failing one answers:
//
//  1. HTTP verb: GET or POST, else 9
//  2. parameters readable (query and body), else 41
//  3. method: present (21) and known (22)
//  4. app_key: present (28) and known (29)
//  5. sign: present (24), sign_method known and sign valid (25)
//  6. timestamp: present (30), parseable and within ±10 minutes (31)
//  7. v: present (32), a version (33), 2.0 (34)
//  8. format: json, xml or absent (23)
//  9. session for tmall.* methods: present (26) and valid (27)
//  10. quota (7), then fault rules
//  11. business parameters: decodable (41), required present (40), then
//     the method's own rules (remote service error 15 with isv.* sub_code,
//     or success=false with a business code).
func (e *Emulator) serveTOP(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	arrived := e.now()
	reqID := e.newRequestID()
	params, queryKeys, readErr := readParams(w, r)
	method := params.Get(top.ParamMethod)
	format := params.Get(top.ParamFormat)
	if format != top.FormatJSON {
		format = top.FormatXML // TOP's default, also for an invalid format
	}
	simplify := params.Get(top.ParamSimplify) == "true"

	var a answer
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodPost:
		a = topError(top.CodeHTTPActionNotAllowed, "", "")
	case readErr != nil:
		a = topError(top.CodeInvalidArguments, top.SubCodeInvalidParameter, readErr.Error())
	default:
		a = e.handleCall(r.Context(), w, params, arrived, reqID)
	}
	if a.fault == "drop" {
		e.record(r, params, queryKeys, reqID, arrived, started, a, 0, nil, false)
		dropConnection(w)
		return
	}
	if a.err != nil {
		a.err.RequestID = reqID
	} else if a.resp != nil {
		a.resp.SetTOPRequestID(reqID)
	}
	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	var body []byte
	var contentType string
	if a.err == nil && a.resp == nil {
		body, contentType = []byte(http.StatusText(status)+"\n"), "text/plain; charset=utf-8"
	} else {
		var err error
		body, contentType, err = encodeAnswer(method, format, simplify, a)
		if err != nil {
			e.log.Error("encode TOP answer", "method", method, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	e.record(r, params, queryKeys, reqID, arrived, started, a, status, body, format == top.FormatJSON)
}

// handleCall runs the checks from the method parameter on.
func (e *Emulator) handleCall(ctx context.Context, w http.ResponseWriter, p url.Values, arrived time.Time, reqID string) answer {
	if a, failed := e.checkProtocol(p, arrived); failed {
		return a
	}
	method := p.Get(top.ParamMethod)
	appKey := p.Get(top.ParamAppKey)
	if ban, over := e.faults.checkQuota(appKey, arrived); over {
		a := topError(top.CodeAppCallLimited, top.SubCodeAppAccessCount, top.BanMessage(ban))
		a.fault = "quota"
		return a
	}
	rule, fired := e.faults.match(method)
	if fired {
		if rule.Latency > 0 {
			t := time.NewTimer(time.Duration(rule.Latency))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			case <-e.closed:
				t.Stop()
			}
		}
		switch {
		case rule.Drop:
			return answer{fault: "drop"}
		case rule.HTTPStatus != 0 || rule.Error != nil:
			a := answer{status: rule.HTTPStatus, fault: rule.name()}
			if fe := rule.Error; fe != nil {
				a.err = &top.ErrorResponse{Code: fe.Code, Msg: fe.Msg, SubCode: fe.SubCode, SubMsg: fe.SubMsg}
			}
			return a
		}
	}
	busy := fired && rule.Busy
	a := e.handle[method](ctx, p, arrived, busy) // checkProtocol refused unknown methods
	if fired {
		a.fault = rule.name()
	}
	return a
}

var versionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// checkProtocol checks the system parameters (steps 3 to 9 of serveTOP).
func (e *Emulator) checkProtocol(p url.Values, now time.Time) (answer, bool) {
	method := p.Get(top.ParamMethod)
	switch {
	case method == "":
		return topError(top.CodeMissingMethod, "", ""), true
	case !e.knows(method):
		return topError(top.CodeInvalidMethod, "", ""), true
	}
	switch appKey := p.Get(top.ParamAppKey); {
	case appKey == "":
		return topError(top.CodeMissingAppKey, "", ""), true
	case appKey != e.cfg.AppKey:
		return topError(top.CodeInvalidAppKey, "", ""), true
	}
	sign := p.Get(top.ParamSign)
	if sign == "" {
		return topError(top.CodeMissingSignature, "", ""), true
	}
	signMethod := top.SignMD5 // TOP's default when sign_method is absent
	if s := p.Get(top.ParamSignMethod); s != "" {
		m, err := top.ParseSignMethod(s)
		if err != nil {
			return topError(top.CodeInvalidSignature, "", "sign_method must be md5, hmac or hmac-sha256"), true
		}
		signMethod = m
	}
	if !top.VerifySign(signMethod, e.cfg.AppSecret, signParams(p), sign) {
		return topError(top.CodeInvalidSignature, "", ""), true
	}
	ts := p.Get(top.ParamTimestamp)
	if ts == "" {
		return topError(top.CodeMissingTimestamp, "", ""), true
	}
	t, ok := parseTimestamp(ts)
	if !ok {
		return topError(top.CodeInvalidTimestamp, "", "timestamp must be yyyy-MM-dd HH:mm:ss in UTC+8"), true
	}
	if d := now.Sub(t); d > timestampWindow || d < -timestampWindow {
		return topError(top.CodeInvalidTimestamp, "", "timestamp is more than 10 minutes away from the server time (UTC+8)"), true
	}
	switch v := p.Get(top.ParamVersion); {
	case v == "":
		return topError(top.CodeMissingVersion, "", ""), true
	case !versionPattern.MatchString(v):
		return topError(top.CodeInvalidVersion, "", ""), true
	case v != top.Version:
		return topError(top.CodeUnsupportedVersion, "", "only v=2.0 is supported"), true
	}
	switch f := p.Get(top.ParamFormat); f {
	case "", top.FormatJSON, top.FormatXML:
	default:
		return topError(top.CodeInvalidFormat, "", "format must be json or xml"), true
	}
	if m, _ := top.Lookup(method); m.Session {
		session := p.Get(top.ParamSession)
		switch {
		case session == "":
			return topError(top.CodeMissingSession, "", ""), true
		case subtle.ConstantTimeCompare([]byte(session), []byte(e.cfg.Session)) != 1:
			return topError(top.CodeInvalidSession, "", ""), true
		}
	}
	return answer{}, false
}

// parseTimestamp reads TOP's documented "yyyy-MM-dd HH:mm:ss" (UTC+8), and
// epoch milliseconds as old official SDKs send them.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) == 13 {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms), true
		}
	}
	t, err := top.ParseTime(s)
	return t, err == nil
}

// signParams returns the parameters to sign, sorted, first value of each.
func signParams(p url.Values) []top.Param {
	out := make([]top.Param, 0, len(p))
	for k, vs := range p {
		if len(vs) > 0 {
			out = append(out, top.Param{Key: k, Value: vs[0]})
		}
	}
	top.SortParams(out)
	return out
}

// readParams merges the query string and the form body (urlencoded or
// multipart). A parameter in both keeps the query's value. It also returns
// the names that came in the query.
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, []string, error) {
	merged, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return url.Values{}, nil, errors.New("query string is not valid URL encoding")
	}
	queryKeys := make([]string, 0, len(merged))
	for k := range merged {
		queryKeys = append(queryKeys, k)
	}
	slices.Sort(queryKeys)
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return merged, queryKeys, nil
	}
	var body url.Values
	ct, ctParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "":
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			return merged, queryKeys, fmt.Errorf("read body: %w", err)
		}
		if body, err = url.ParseQuery(string(b)); err != nil {
			return merged, queryKeys, errors.New("body is not valid form encoding")
		}
	case "multipart/form-data":
		if ctParams["boundary"] == "" {
			return merged, queryKeys, errors.New("multipart body without boundary")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseMultipartForm(maxBodyBytes); err != nil {
			return merged, queryKeys, errors.New("body is not valid multipart form data")
		}
		body = r.MultipartForm.Value
	}
	for k, vs := range body {
		if _, ok := merged[k]; !ok {
			merged[k] = vs
		}
	}
	return merged, queryKeys, nil
}

// dropConnection closes the client connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, a recorder): abort the response instead.
	panic(http.ErrAbortHandler)
}

// encodeAnswer renders an answer as TOP does: JSON in normal form
// ({"<key>":{...,"request_id":...}}, lists wrapped) or simplified form
// (fields at the root, plain lists), or XML; errors always as
// error_response.
func encodeAnswer(method, format string, simplify bool, a answer) ([]byte, string, error) {
	if format == top.FormatXML {
		var v any = a.resp
		if a.err != nil {
			v = a.err
		}
		b, err := xml.Marshal(v)
		if err != nil {
			return nil, "", fmt.Errorf("encode xml: %w", err)
		}
		out := make([]byte, 0, len(xml.Header)+len(b))
		out = append(append(out, xml.Header...), b...)
		return out, "text/xml;charset=UTF-8", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	var v any
	switch {
	case a.err != nil:
		v = top.ErrorEnvelope{ErrorResponse: a.err}
	case simplify:
		v = a.resp
	default:
		v = map[string]any{top.ResponseKey(method): normalForm(a.resp)}
	}
	if err := enc.Encode(v); err != nil {
		return nil, "", fmt.Errorf("encode json: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), "application/json;charset=UTF-8", nil
}

// normalForm wraps the lists of a response as TOP's normal JSON does:
// home_worker_tags becomes {"worker_manage_rule_d_t_o":[...]}.
func normalForm(resp any) any {
	tl, ok := resp.(*top.TagListGetResponse)
	if !ok {
		return resp
	}
	type wrappedRules struct {
		Items []top.WorkerManageRule `json:"worker_manage_rule_d_t_o"`
	}
	type workerTag struct {
		BlackList      top.Bool      `json:"black_list"`
		Degradation    top.Bool      `json:"degradation"`
		AbilityMap     string        `json:"ability_map,omitempty"`
		Vip            top.Bool      `json:"vip"`
		BigPromotion   top.Bool      `json:"big_promotion"`
		HomeWorkerTags *wrappedRules `json:"home_worker_tags,omitempty"`
	}
	type result struct {
		ResultData *workerTag `json:"result_data,omitempty"`
		MsgCode    top.String `json:"msg_code,omitempty"`
		MsgInfo    string     `json:"msg_info,omitempty"`
		Success    top.Bool   `json:"success"`
	}
	out := struct {
		Result    result `json:"result"`
		RequestID string `json:"request_id,omitempty"`
	}{
		Result: result{
			MsgCode: tl.Result.MsgCode, MsgInfo: tl.Result.MsgInfo, Success: tl.Result.Success,
		},
		RequestID: tl.RequestID,
	}
	if d := tl.Result.ResultData; d != nil {
		wt := &workerTag{
			BlackList: d.BlackList, Degradation: d.Degradation, AbilityMap: d.AbilityMap,
			Vip: d.Vip, BigPromotion: d.BigPromotion,
		}
		if len(d.HomeWorkerTags) > 0 {
			wt.HomeWorkerTags = &wrappedRules{Items: d.HomeWorkerTags}
		}
		out.Result.ResultData = wt
	}
	return out
}

// record adds the call to the ring of recorded calls, masked, and counts it.
func (e *Emulator) record(r *http.Request, p url.Values, queryKeys []string, reqID string,
	arrived, started time.Time, a answer, status int, body []byte, isJSON bool) {
	method := p.Get(top.ParamMethod)
	code, subCode := 0, ""
	if a.err != nil {
		code, subCode = a.err.Code, a.err.SubCode
	}
	e.stats.count(method, code)
	elapsed := time.Since(started)
	e.log.Debug("TOP call", "method", method, "request_id", reqID, "status", status, "code", code,
		"sub_code", subCode, "fault", a.fault, "elapsed", elapsed)
	if len(e.rec.ring) == 0 {
		return
	}
	masked := make(map[string]string, len(p))
	for k, vs := range p {
		if len(vs) > 0 {
			masked[k] = maskParam(k, vs[0])
		}
	}
	e.rec.add(RecordedCall{
		Time: arrived, RequestID: reqID, HTTPMethod: r.Method, Method: method,
		AppKey: p.Get(top.ParamAppKey), Params: masked, QueryParams: queryKeys,
		HTTPStatus: status, Code: code, SubCode: subCode, Fault: a.fault,
		DurationMS: float64(elapsed.Microseconds()) / 1000, Response: maskBody(body, isJSON),
	})
}
