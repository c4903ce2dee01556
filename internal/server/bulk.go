package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	gwruntime "github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/auth"
	"github.com/servicecenterd/servicecenterd/internal/blacklistfile"
	"github.com/servicecenterd/servicecenterd/internal/bulksync"
	"github.com/servicecenterd/servicecenterd/internal/interceptor"
	"github.com/servicecenterd/servicecenterd/internal/store"
)

// bulk is the durable bulk blacklist sync: the job manager that imports
// and delivers jobs, over the store in --data-dir.
type bulk struct {
	jobs *bulksync.Manager
}

// validateBulk checks the bulk sync settings and fills the default
// --data-dir.
func (c *Config) validateBulk() []error {
	var errs []error
	if c.DataDir == "" {
		dir, err := DefaultDataDir()
		if err != nil {
			errs = append(errs, fmt.Errorf("--data-dir has no default here (%w): set it", err))
		}
		c.DataDir = dir
	}
	if c.SyncChunkSize < 1 || c.SyncChunkSize > bulksync.MaxChunkSize {
		errs = append(errs, fmt.Errorf("--sync-chunk-size must be 1 to %d (TOP's entries per call)", bulksync.MaxChunkSize))
	}
	if c.SyncConcurrentJobs < 1 || c.SyncConcurrentJobs > 64 {
		errs = append(errs, errors.New("--sync-concurrent-jobs must be 1 to 64"))
	}
	if c.SyncChunksInFlight < 1 || c.SyncChunksInFlight > 64 {
		errs = append(errs, errors.New("--sync-chunks-in-flight must be 1 to 64"))
	}
	return errs
}

// DefaultDataDir is where servicecenterd keeps its store unless --data-dir
// says otherwise: $XDG_DATA_HOME/servicecenterd, else
// ~/.local/share/servicecenterd (the XDG base directory default); on macOS
// and Windows, servicecenterd in the user config directory (~/Library/
// Application Support, %AppData%). Not a cache directory: the store holds
// jobs that must not be lost.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "servicecenterd"), nil
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "servicecenterd"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "servicecenterd"), nil
}

// WithStoreOptions passes opts to store.Open when New opens the store in
// --data-dir (tests cap its size with store.WithMaxPages to fill it).
func WithStoreOptions(opts ...store.Option) Option {
	return func(o *options) { o.storeOptions = append(o.storeOptions, opts...) }
}

// openStore opens (creating, migrating) the store in cfg.DataDir: the
// bulk sync's jobs and the audit trail.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger, opts ...store.Option) (*store.SQLite, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	path := filepath.Join(cfg.DataDir, store.FileName)
	st, err := store.Open(ctx, path, opts...)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	version, _ := st.SchemaVersion(ctx)
	logger.Info("store opened", slog.String("path", path), slog.Int("schema_version", version))
	return st, nil
}

// startBulk builds the job manager over st; uncommitted imports of a
// previous run are dropped.
func startBulk(ctx context.Context, cfg Config, st store.Jobs, top bulksync.Syncer, logger *slog.Logger) (*bulk, error) {
	jobs, err := bulksync.New(ctx, bulksync.Config{
		Store: st, TOP: top, ChunkSize: cfg.SyncChunkSize,
		ConcurrentJobs: cfg.SyncConcurrentJobs, ChunksInFlight: cfg.SyncChunksInFlight,
		Logger: logger.With(slog.String("component", "bulksync")),
	})
	if err != nil {
		return nil, err
	}
	return &bulk{jobs: jobs}, nil
}

// run delivers jobs until ctx ends.
func (b *bulk) run(ctx context.Context) error { return b.jobs.Run(ctx) }

// BlacklistJobs is the bulk blacklist sync job manager (for metrics and
// audit hooks: see bulksync.Manager.Counts and bulksync.Config.Observer).
func (s *Server) BlacklistJobs() *bulksync.Manager { return s.bulk.jobs }

// longStreams are the bulk sync's streams, which last as long as their
// work (an import of millions of entries, a watch until the job ends):
// --default-deadline does not apply to them.
func longStreams() []string {
	return []string{
		scv1.LogisticsService_ImportUserBlacklist_FullMethodName,
		scv1.LogisticsService_WatchBlacklistSyncJob_FullMethodName,
	}
}

// registerBulkHTTP adds the file upload to POST /v1/blacklist/jobs:import
// (other bodies go on to the gateway) and lets job watches stream longer
// than the server's write timeout.
//
// A file upload is exempt from --http-max-body-size: it is streamed into
// the store (memory stays flat) and bounded by uploadIdleTimeout; the
// gateway's own JSON form of the import keeps the limit.
func (s *Server) registerBulkHTTP(mux *http.ServeMux, gw *gwruntime.ServeMux) {
	limited := s.sec.limitBody(gw)
	mux.Handle("POST /v1/blacklist/jobs:import", s.uploadHandler(gw, limited))
	// The list route, registered so that ServeMux does not redirect it to
	// the subtree below.
	mux.Handle("GET /v1/blacklist/jobs", limited)
	mux.Handle("GET /v1/blacklist/jobs/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":watch") {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		}
		limited.ServeHTTP(w, r)
	}))
}

// Upload limits.
const (
	// uploadBatch is how many entries go in one ImportUserBlacklist message.
	uploadBatch = 1000
	// uploadIdleTimeout is how long an upload may send nothing.
	uploadIdleTimeout = time.Minute
)

// uploadHandler serves uploads of a CSV (text/csv) or NDJSON
// (application/x-ndjson) file of entries, the job's settings in the query
// (supplier_id, operate_type upsert|delete|1|2, default upsert;
// service_type, ability_type). It streams the file, as it arrives, into
// ImportUserBlacklist over the gateway's connection to our gRPC server,
// with the caller's credentials (uploadMetadata), so the upload passes the
// same interceptors as any call. A malformed file cancels the stream,
// which drops the import: no job is left. Other content types go to
// other, the gateway (a stream of JSON requests, body size limited).
func (s *Server) uploadHandler(gw *gwruntime.ServeMux, other http.Handler) http.Handler {
	client := scv1.NewLogisticsServiceClient(s.gatewayConn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format, ok := blacklistfile.FormatOfContentType(r.Header.Get("Content-Type"))
		if !ok {
			other.ServeHTTP(w, r)
			return
		}
		_, marshaler := gwruntime.MarshalerForRequest(gw, r)
		var stream grpc.ClientStreamingClient[scv1.ImportUserBlacklistRequest, scv1.ImportUserBlacklistResponse]
		// fail answers err; after the stream ended, with its header (our
		// x-request-id), as the gateway does.
		fail := func(err error) {
			ctx := r.Context()
			if stream != nil {
				if md, herr := stream.Header(); herr == nil {
					ctx = gwruntime.NewServerMetadataContext(ctx, gwruntime.ServerMetadata{HeaderMD: md})
				}
			}
			gwruntime.HTTPError(ctx, gw, marshaler, w, r, err)
		}
		settings, err := uploadSettings(r.URL.Query())
		if err != nil {
			fail(err)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		ctx = metadata.NewOutgoingContext(ctx, uploadMetadata(r))
		stream, err = client.ImportUserBlacklist(ctx)
		if err != nil {
			fail(err)
			return
		}
		send := func(m *scv1.ImportUserBlacklistRequest) error {
			err := stream.Send(m)
			if errors.Is(err, io.EOF) { // the server ended the stream: its status says why
				_, err = stream.CloseAndRecv()
			}
			return err
		}
		if err := send(&scv1.ImportUserBlacklistRequest{Settings: settings}); err != nil {
			fail(err)
			return
		}
		rc := http.NewResponseController(w)
		rd := blacklistfile.NewReader(&deadlineReader{r: r.Body, rc: rc}, format)
		batch := make([]*scv1.BlacklistImportEntry, 0, uploadBatch)
		for {
			e, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				cancel() // drops the import
				stream = nil
				var se *blacklistfile.SyntaxError
				if errors.As(err, &se) {
					fail(interceptor.FieldViolations(&errdetails.BadRequest_FieldViolation{
						Field: "body", Description: se.Error(), Reason: "upload.malformed",
					}))
				} else {
					fail(status.Error(codes.InvalidArgument, "reading the upload failed"))
				}
				return
			}
			if batch = append(batch, e); len(batch) == uploadBatch {
				if err := send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
					fail(err)
					return
				}
				batch = batch[:0] // Send has marshalled the message
			}
		}
		if len(batch) > 0 {
			if err := send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
				fail(err)
				return
			}
		}
		resp, err := stream.CloseAndRecv()
		if err != nil {
			fail(err)
			return
		}
		buf, err := marshaler.Marshal(resp)
		if err != nil {
			fail(err)
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(uploadIdleTimeout))
		if md, err := stream.Header(); err == nil && len(md.Get(interceptor.RequestIDHeader)) > 0 {
			w.Header().Set(interceptor.RequestIDHeader, md.Get(interceptor.RequestIDHeader)[0])
		}
		w.Header().Set("Content-Type", marshaler.ContentType(resp))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(buf)
	})
}

// uploadMetadata is what the gateway passes to gRPC for a REST call, for
// an upload: the caller's request id and Authorization header, and the
// SANs of its verified client certificate (believed on the gateway's
// internal connection only), so that the upload is authenticated,
// authorized, rate-limited and audited as the same call over gRPC.
func uploadMetadata(r *http.Request) metadata.MD {
	md := metadata.MD{}
	if id := r.Header.Get(interceptor.RequestIDHeader); id != "" {
		md.Set(interceptor.RequestIDHeader, id)
	}
	if v := r.Header.Values("Authorization"); len(v) > 0 {
		md.Set("authorization", v...)
	}
	for k, v := range auth.GatewayMetadata(r.Context(), r) {
		md.Append(k, v...)
	}
	return md
}

// uploadSettings reads the job's settings from the query.
func uploadSettings(q url.Values) (*scv1.BlacklistSyncJobSettings, error) {
	s := &scv1.BlacklistSyncJobSettings{SupplierId: q.Get("supplier_id"), OperateType: scv1.OperateType_OPERATE_TYPE_UPSERT}
	var bad []*errdetails.BadRequest_FieldViolation
	if v := q.Get("operate_type"); v != "" {
		switch strings.ToLower(v) {
		case "upsert", "1", "operate_type_upsert":
		case "delete", "2", "operate_type_delete":
			s.OperateType = scv1.OperateType_OPERATE_TYPE_DELETE
		default:
			bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: "operate_type", Description: "must be upsert or delete"})
		}
	}
	for _, f := range []struct {
		name string
		set  func(int32)
	}{
		{"service_type", func(v int32) { s.ServiceType = scv1.BlacklistServiceType(v) }},
		{"ability_type", func(v int32) { s.AbilityType = scv1.BlacklistAbilityType(v) }},
	} {
		if v := q.Get(f.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				bad = append(bad, &errdetails.BadRequest_FieldViolation{Field: f.name, Description: "must be a number"})
				continue
			}
			f.set(int32(n))
		}
	}
	if len(bad) > 0 {
		return nil, interceptor.FieldViolations(bad...)
	}
	return s, nil
}

// deadlineReader moves the connection's read deadline forward before
// each read, so that a long upload is bounded by idleness, not by the
// server's ReadTimeout.
type deadlineReader struct {
	r  io.Reader
	rc *http.ResponseController
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.rc.SetReadDeadline(time.Now().Add(uploadIdleTimeout))
	return d.r.Read(p)
}
