package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/syncjob"
	"github.com/servicecenterd/servicecenterd/internal/idempotency"
	"github.com/servicecenterd/servicecenterd/internal/service"
)

// newKeeper builds the idempotency keys' interceptors over the store, for
// the RPCs whose proto option says they take a key, and their pruner.
func (s *Server) newKeeper() error {
	methods, err := idempotency.Methods(protoregistry.GlobalFiles)
	if err != nil {
		return err
	}
	logger := s.logger.With(slog.String("component", "idempotency"))
	s.keeper, err = idempotency.NewKeeper(idempotency.Options{
		Store: s.store, Methods: methods, TTL: s.cfg.Idempotency.TTL, Require: s.cfg.Idempotency.Require,
		Refresh: s.refreshReplay, Logger: logger,
	})
	if err != nil {
		return err
	}
	s.keyPruner = idempotency.NewPruner(s.store, 0, 0, logger, nil)
	return nil
}

// refreshReplay gives a replayed ImportUserBlacklist answer its job's
// current state (the stored answer has the job as it was when the import
// was committed); other answers are replayed as stored.
func (s *Server) refreshReplay(ctx context.Context, _ string, resp proto.Message) (proto.Message, error) {
	r, ok := resp.(*scv1.ImportUserBlacklistResponse)
	if !ok || r.GetJob().GetJobId() == "" {
		return resp, nil
	}
	j, err := s.bulk.jobs.Job(ctx, r.GetJob().GetJobId())
	if errors.Is(err, syncjob.ErrJobNotFound) {
		return resp, nil
	}
	if err != nil {
		return nil, service.Status(ctx, s.logger, err)
	}
	r.Job = service.JobToProto(j)
	return r, nil
}
