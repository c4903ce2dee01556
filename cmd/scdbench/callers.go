package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/bench/load"
)

// The methods the benchmark calls, with requests that succeed against the
// fixed upstream and against the emulator's demo data.
const (
	MethodGetWorkerTags = "GetWorkerTags"
	MethodAssignWorker  = "AssignWorker"
)

func tagsRequest() *scv1.GetWorkerTagsRequest {
	return &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
}

func assignRequest() *scv1.AssignWorkerRequest {
	return &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567,
		Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER, FulfilTaskId: 1898}
}

// restRoute is the REST path and JSON body of a method.
func restRoute(method string) (path, body string, err error) {
	switch method {
	case MethodGetWorkerTags:
		return "/v1/workers:getTags", `{"id_number":"11010519491231002X","mobile":"13245678901"}`, nil
	case MethodAssignWorker:
		return "/v1/workcards/2345678:assignWorker", `{"target_worker_id":"1234567","type":"OPERATOR_TYPE_PROVIDER","fulfil_task_id":"1898"}`, nil
	}
	return "", "", fmt.Errorf("unknown method %q", method)
}

// grpcCaller calls one method over a fixed set of connections, worker i
// using connection i mod len(conns).
type grpcCaller struct {
	conns []*grpc.ClientConn
}

func dialGRPC(addr string, n int) (*grpcCaller, error) {
	g := &grpcCaller{}
	for range n {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			g.close()
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		conn.Connect()
		g.conns = append(g.conns, conn)
	}
	return g, nil
}

func (g *grpcCaller) close() {
	for _, c := range g.conns {
		_ = c.Close()
	}
}

var errNotSuccess = errors.New("answer is not success")

// call returns the CallFunc for method.
func (g *grpcCaller) call(method string) (load.CallFunc, error) {
	switch method {
	case MethodGetWorkerTags:
		clients := make([]scv1.WorkerServiceClient, len(g.conns))
		for i, c := range g.conns {
			clients[i] = scv1.NewWorkerServiceClient(c)
		}
		req := tagsRequest()
		return func(ctx context.Context, w int) error {
			resp, err := clients[w%len(clients)].GetWorkerTags(ctx, req)
			if err == nil && !resp.GetSuccess() {
				err = errNotSuccess
			}
			return err
		}, nil
	case MethodAssignWorker:
		clients := make([]scv1.WorkcardServiceClient, len(g.conns))
		for i, c := range g.conns {
			clients[i] = scv1.NewWorkcardServiceClient(c)
		}
		req := assignRequest()
		return func(ctx context.Context, w int) error {
			resp, err := clients[w%len(clients)].AssignWorker(ctx, req)
			if err == nil && !resp.GetSuccess() {
				err = errNotSuccess
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

// restCaller calls the REST gateway over keep-alive HTTP/1.1 connections,
// one per worker at most.
type restCaller struct {
	base   string
	client *http.Client
}

func newRESTCaller(addr string, conc int) *restCaller {
	tr := &http.Transport{
		MaxIdleConns:        conc + 16,
		MaxIdleConnsPerHost: conc + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &restCaller{base: "http://" + addr, client: &http.Client{Transport: tr}}
}

func (r *restCaller) close() { r.client.CloseIdleConnections() }

var successJSON = []byte(`"success":true`)

// call returns the CallFunc for method; each worker reuses its own buffer.
func (r *restCaller) call(method string, conc int) (load.CallFunc, error) {
	path, body, err := restRoute(method)
	if err != nil {
		return nil, err
	}
	url := r.base + path
	payload := []byte(body)
	bufs := make([]bytes.Buffer, conc)
	return func(ctx context.Context, w int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf := &bufs[w]
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, buf.Bytes())
		}
		if !bytes.Contains(buf.Bytes(), successJSON) {
			return errNotSuccess
		}
		return nil
	}, nil
}
