package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/blacklist/entryfile"
)

// defaultServerAddr is the gRPC address of a servicecenterd with default settings.
const defaultServerAddr = "127.0.0.1:9090"

// importBatchSize is how many entries go in one ImportUserBlacklist message.
const importBatchSize = 1000

const blacklistUsage = `Usage: servicecenterd blacklist <command> [flags]

Durable bulk sync of the door-to-door pickup user blacklist, through a
running servicecenterd (gRPC, --addr, default ` + defaultServerAddr + `).

Commands:
  import FILE     import a CSV (header mobile,reason) or NDJSON file as a sync job, then follow it
  jobs            list sync jobs, newest first
  status JOB_ID   show a job (--wait: follow it to its end)
  cancel JOB_ID   cancel a job that has not finished
  retry JOB_ID    send the failed chunks of a failed job again (same request ids), then follow it (--no-wait: do not)
  rejections JOB_ID
                  list every entry an import rejected, with its line and problem

A secured server (--clients-file, TLS) takes a bearer token from
--token-file or ` + blacklistTokenEnv + `, and TLS with --tls-ca-file (or --tls), a client
certificate with --tls-cert-file and --tls-key-file. Each connection flag
has an environment variable: ` + blacklistEnvPrefix + `ADDR, ` + blacklistEnvPrefix + `TOKEN_FILE...

Run servicecenterd blacklist <command> -h for its flags.
`

// runBlacklist is `servicecenterd blacklist`: the bulk blacklist sync for
// people, talking gRPC to a running servicecenterd. args are those after
// "blacklist"; the connection flags not given fall back to the
// environment.
//
//	servicecenterd blacklist import FILE --supplier-id ID [--delete] [--format csv|ndjson] [--no-wait] [connection flags]
//	servicecenterd blacklist jobs [--state STATE] [--supplier-id ID] [--limit N] [connection flags]
//	servicecenterd blacklist status JOB_ID [--wait] [connection flags]
//	servicecenterd blacklist cancel JOB_ID [connection flags]
//	servicecenterd blacklist retry JOB_ID [--no-wait] [connection flags]
//	servicecenterd blacklist rejections JOB_ID [--limit N] [connection flags]
//
// The connection flags (blacklist_conn.go) say where the server is and
// how to reach a secured one: --addr, --token-file (or
// SERVICECENTERD_TOKEN), --tls, --tls-ca-file, --tls-cert-file and
// --tls-key-file, --tls-server-name; each is mirrored by an environment
// variable SERVICECENTERD_BLACKLIST_*. The flags of what to do (--delete,
// --wait...) are not: an environment variable must not turn an import
// into a delete.
//
// import streams the file (CSV with a header mobile,reason, or NDJSON) to
// ImportUserBlacklist, prints the job and the rejected lines, then follows
// the job to its end: a progress bar on a terminal, a line per 10% step
// otherwise, and a summary.
func runBlacklist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWithEnv(ctx, args, stdout, stderr, os.LookupEnv)
}

// runWithEnv is Run with the environment read through getenv.
func runWithEnv(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, blacklistUsage)
		return errors.New("blacklist: a command is required")
	}
	c := &cli{stdout: stdout, stderr: stderr, tty: isTerminal(stdout), getenv: getenv}
	switch args[0] {
	case "import":
		return c.importFile(ctx, args[1:])
	case "jobs":
		return c.jobs(ctx, args[1:])
	case "status":
		return c.status(ctx, args[1:])
	case "cancel":
		return c.cancel(ctx, args[1:])
	case "retry":
		return c.retry(ctx, args[1:])
	case "rejections":
		return c.rejections(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, blacklistUsage)
		return nil
	}
	fmt.Fprint(stderr, blacklistUsage)
	return fmt.Errorf("blacklist: unknown command %q", args[0])
}

type cli struct {
	stdout, stderr io.Writer
	tty            bool
	getenv         func(string) (string, bool)
	conn           *grpc.ClientConn
	// token and cert say whether a token and a client certificate are
	// sent, tls whether TLS is on: for rpcError's hints.
	token, cert, tls bool
}

// flags returns a flag set with the connection flags.
func (c *cli) flags(name, args string) (*flag.FlagSet, *conn) {
	fs := flag.NewFlagSet("servicecenterd blacklist "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	cn := addConnFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: servicecenterd blacklist %s %s[flags]\n\nFlags:\n", name, args)
		fs.PrintDefaults()
		fmt.Fprintf(c.stderr, "\nEnvironment: %s holds the bearer token itself (instead of --token-file).\n", blacklistTokenEnv)
	}
	return fs, cn
}

// parse parses flags and positional arguments in any order (all after
// "--" are positional), then fills the connection flags not given from
// the environment.
func (c *cli) parse(fs *flag.FlagSet, cn *conn, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			rest = nil
		}
		if len(rest) == 0 {
			return pos, cn.fromEnv(fs, c.getenv)
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// client dials the server (no connection is made until the first call).
func (c *cli) client(cn *conn) (scv1.LogisticsServiceClient, error) {
	opts, err := cn.dialOptions(c.getenv)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cn.addr(), opts...)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", cn.addr(), err)
	}
	c.conn = conn
	c.tls, c.cert = cn.tlsOn(), *cn.values["tls-cert-file"] != ""
	c.token = cn.sendsToken(c.getenv)
	return scv1.NewLogisticsServiceClient(conn), nil
}

func (c *cli) close() {
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// rpcError makes a gRPC failure readable, with a hint where the cause is
// likely the connection settings.
func (c *cli) rpcError(addr string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		hint := ""
		if !c.tls {
			hint = " (if the server uses TLS: --tls-ca-file FILE, or --tls)"
		}
		return fmt.Errorf("cannot reach servicecenterd at %s: %s%s", addr, st.Message(), hint)
	case codes.Unauthenticated:
		var hint string
		switch {
		case c.token:
			hint = " (the server refused the token)"
		case c.cert:
			hint = " (the server did not take the client certificate: is it issued by a CA of the server's --tls-client-ca-file?)"
		default:
			hint = " (give a token with --token-file or " + blacklistTokenEnv + ", or a client certificate with --tls-cert-file and --tls-key-file)"
		}
		return fmt.Errorf("%s (%s)%s", st.Message(), st.Code(), hint)
	case codes.Canceled:
		return context.Canceled
	}
	return fmt.Errorf("%s (%s)", st.Message(), st.Code())
}

// importFileHelp ends `blacklist import -h`: the file formats and what
// the reasons mean (TOP's values of reason).
const importFileHelp = `
Files: CSV with a header row naming mobile and, optionally, reason
(examples/blacklist.csv), or NDJSON, one {"mobile": "...", "reason": [1, 3]}
per line. A reason cell lists TOP's reason values, e.g. 1 or "1,3" (also
1|3, or the names below):
  1  BLACKLIST_REASON_MALICIOUS_ORDER      malicious orders (恶意下单)
  2  BLACKLIST_REASON_MALICIOUS_COMPLAINT  malicious complaints (恶意投诉)
  3  BLACKLIST_REASON_EXTORTION            extortion (恶意敲诈)
  4  BLACKLIST_REASON_PERSONAL_ATTACK      personal attacks, e.g. abusing couriers (人身攻击类)
  5  BLACKLIST_REASON_OTHER                other (其他)
An entry without a reason is sent without one. Bad entries are rejected one
by one with their line; the others are imported.
`

func (c *cli) importFile(ctx context.Context, args []string) error {
	fs, cn := c.flags("import", "FILE --supplier-id ID ")
	supplier := fs.String("supplier-id", "", "TOP supplier_id of the entries (required)")
	del := fs.Bool("delete", false, "delete the entries from the blacklist (default: add or update them)")
	formatName := fs.String("format", "", "csv or ndjson (default: from the file name: .csv, .ndjson/.jsonl/.json)")
	noWait := fs.Bool("no-wait", false, "return once the job is stored, without following it")
	usage := fs.Usage
	fs.Usage = func() {
		usage()
		fmt.Fprint(c.stderr, importFileHelp)
	}
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("import: one FILE is required")
	}
	if *supplier == "" {
		return errors.New("import: --supplier-id is required")
	}
	name := pos[0]
	format, ok := entryfile.FormatOfName(name)
	if *formatName != "" {
		if format, err = entryfile.ParseFormat(*formatName); err != nil {
			return fmt.Errorf("import: --format: %w", err)
		}
	} else if !ok {
		return fmt.Errorf("import: cannot tell the format of %s from its name: use --format csv or --format ndjson", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()

	op := scv1.OperateType_OPERATE_TYPE_UPSERT
	if *del {
		op = scv1.OperateType_OPERATE_TYPE_DELETE
	}
	resp, err := c.upload(ctx, client, cn.addr(), f, size, name, format, &scv1.BlacklistSyncJobSettings{SupplierId: *supplier, OperateType: op})
	if err != nil {
		return err
	}
	j := resp.GetJob()
	fmt.Fprintf(c.stdout, "job %s queued: %d received, %d rejected, %d duplicates, %d to send in %d chunks of %d\n",
		j.GetJobId(), j.GetReceivedCount(), j.GetRejectedCount(), j.GetDuplicateCount(), j.GetTotalCount(), j.GetChunkCount(), j.GetChunkSize())
	c.printRejections(name, resp.GetRejections(), j.GetRejectedCount())
	if *noWait {
		fmt.Fprintf(c.stdout, "follow it with: servicecenterd blacklist status %s --wait\n", j.GetJobId())
		return nil
	}
	return c.follow(ctx, client, cn.addr(), j.GetJobId())
}

// upload streams the file as one import.
func (c *cli) upload(ctx context.Context, client scv1.LogisticsServiceClient, addr string, f io.Reader, size int64,
	name string, format entryfile.Format, settings *scv1.BlacklistSyncJobSettings) (*scv1.ImportUserBlacklistResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.ImportUserBlacklist(ctx)
	if err != nil {
		return nil, c.rpcError(addr, err)
	}
	send := func(m *scv1.ImportUserBlacklistRequest) error {
		err := stream.Send(m)
		if errors.Is(err, io.EOF) {
			_, err = stream.CloseAndRecv()
		}
		if err != nil {
			return c.rpcError(addr, err)
		}
		return nil
	}
	if err := send(&scv1.ImportUserBlacklistRequest{Settings: settings}); err != nil {
		return nil, err
	}
	counted := &countingReader{r: f}
	rd := entryfile.NewReader(counted, format)
	bar := newProgress(c.stdout, c.tty, "uploading")
	batch := make([]*scv1.BlacklistImportEntry, 0, importBatchSize)
	var n int64
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			cancel() // no job is created
			bar.done()
			return nil, fmt.Errorf("import: %s: %w (nothing was imported)", name, err)
		}
		n++
		if batch = append(batch, e); len(batch) == importBatchSize {
			if err := send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
				bar.done()
				return nil, err
			}
			batch = batch[:0]
			bar.update(counted.n, size, fmt.Sprintf("%d entries", n))
		}
	}
	if len(batch) > 0 {
		if err := send(&scv1.ImportUserBlacklistRequest{Entries: batch}); err != nil {
			bar.done()
			return nil, err
		}
	}
	bar.update(counted.n, size, fmt.Sprintf("%d entries, storing", n))
	resp, err := stream.CloseAndRecv()
	bar.done()
	if err != nil {
		return nil, c.rpcError(addr, err)
	}
	return resp, nil
}

func (c *cli) printRejections(name string, rs []*scv1.BlacklistEntryRejection, total int64) {
	if total == 0 {
		return
	}
	fmt.Fprintf(c.stdout, "rejected entries of %s:\n", name)
	for _, r := range rs {
		where := fmt.Sprintf("entry %d", r.GetIndex())
		if r.GetLine() > 0 {
			where = fmt.Sprintf("line %d", r.GetLine())
		}
		fmt.Fprintf(c.stdout, "  %s: %s %s\n", where, r.GetField(), r.GetDescription())
	}
	if more := total - int64(len(rs)); more > 0 {
		fmt.Fprintf(c.stdout, "  ... and %d more\n", more)
	}
}

// jobOver reports whether a job in state s has ended.
func jobOver(s scv1.BlacklistSyncJobState) bool {
	switch s {
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED, scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED,
		scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED:
		return true
	}
	return false
}

// follow watches a job to its end and prints a summary; a job that ends
// FAILED or CANCELLED is an error.
func (c *cli) follow(ctx context.Context, client scv1.LogisticsServiceClient, addr, id string) error {
	watch, err := client.WatchBlacklistSyncJob(ctx, &scv1.WatchBlacklistSyncJobRequest{JobId: id})
	if err != nil {
		return c.rpcError(addr, err)
	}
	bar := newProgress(c.stdout, c.tty, "syncing")
	bar.holdFull = true
	start := time.Now()
	var j *scv1.BlacklistSyncJob
	for {
		m, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bar.done()
			if status.Code(err) == codes.Canceled || ctx.Err() != nil {
				return fmt.Errorf("stopped following; the job goes on: servicecenterd blacklist status %s --wait", id)
			}
			return c.rpcError(addr, err)
		}
		j = m.GetJob()
		done := j.GetAcknowledgedCount() + j.GetFailedCount()
		text := fmt.Sprintf("%d/%d acknowledged, %d failed, %s",
			j.GetAcknowledgedCount(), j.GetTotalCount(), j.GetFailedCount(), stateName(j.GetState()))
		if jobOver(j.GetState()) {
			bar.final(done, j.GetTotalCount(), text)
		} else {
			bar.update(done, j.GetTotalCount(), text)
		}
	}
	bar.done()
	if j == nil {
		return fmt.Errorf("job %s: no progress received", id)
	}
	fmt.Fprintf(c.stdout, "job %s %s: %d of %d acknowledged, %d failed, in %s\n", id, strings.ToUpper(stateName(j.GetState())),
		j.GetAcknowledgedCount(), j.GetTotalCount(), j.GetFailedCount(), time.Since(start).Round(time.Millisecond))
	c.printLastError(j)
	switch j.GetState() {
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_SUCCEEDED:
		return nil
	case scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_FAILED, scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED:
		return fmt.Errorf("job %s ended %s", id, stateName(j.GetState()))
	}
	return fmt.Errorf("job %s: the watch ended while %s (is servicecenterd stopping?)", id, stateName(j.GetState()))
}

func (c *cli) printLastError(j *scv1.BlacklistSyncJob) {
	e := j.GetLastError()
	if e == nil {
		return
	}
	kind := "last error (transient; the chunk is resent)"
	switch {
	case e.GetFinal():
		kind = "last error (chunk failed for good)"
	case j.GetState() == scv1.BlacklistSyncJobState_BLACKLIST_SYNC_JOB_STATE_CANCELLED:
		kind = "last error (transient; it stood when the job was cancelled)"
	}
	code := strings.TrimSpace(e.GetCode() + " " + e.GetSubCode())
	if code == "" {
		code = "no TOP answer"
	}
	fmt.Fprintf(c.stdout, "%s: chunk %d: TOP %s: %s", kind, e.GetChunk(), code, e.GetMessage())
	if e.GetTopRequestId() != "" {
		fmt.Fprintf(c.stdout, " (TOP request_id %s)", e.GetTopRequestId())
	}
	fmt.Fprintln(c.stdout)
}

func (c *cli) jobs(ctx context.Context, args []string) error {
	fs, cn := c.flags("jobs", "")
	stateFlag := fs.String("state", "", "only jobs in this state: queued, running, succeeded, failed or cancelled")
	supplier := fs.String("supplier-id", "", "only this supplier's jobs")
	limit := fs.Int("limit", 20, "show at most this many jobs")
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("jobs: unexpected arguments %q", pos)
	}
	req := &scv1.ListBlacklistSyncJobsRequest{SupplierId: *supplier}
	if *stateFlag != "" {
		v, ok := scv1.BlacklistSyncJobState_value["BLACKLIST_SYNC_JOB_STATE_"+strings.ToUpper(*stateFlag)]
		if !ok || v == 0 {
			return fmt.Errorf("jobs: --state %q: want queued, running, succeeded, failed or cancelled", *stateFlag)
		}
		req.State = scv1.BlacklistSyncJobState(v)
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB ID\tSTATE\tSUPPLIER\tOPERATION\tTOTAL\tACKNOWLEDGED\tFAILED\tREJECTED\tCREATED")
	shown := 0
	for shown < *limit {
		req.PageSize = int32(min(*limit-shown, 1000))
		page, err := client.ListBlacklistSyncJobs(ctx, req)
		if err != nil {
			return c.rpcError(cn.addr(), err)
		}
		for _, j := range page.GetJobs() {
			op := "upsert"
			if j.GetSettings().GetOperateType() == scv1.OperateType_OPERATE_TYPE_DELETE {
				op = "delete"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", j.GetJobId(), stateName(j.GetState()), j.GetSettings().GetSupplierId(), op,
				j.GetTotalCount(), j.GetAcknowledgedCount(), j.GetFailedCount(), j.GetRejectedCount(),
				j.GetCreateTime().AsTime().Local().Format("2006-01-02 15:04:05"))
			shown++
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if shown == 0 {
		fmt.Fprintln(c.stdout, "(no jobs)")
	}
	return nil
}

func (c *cli) status(ctx context.Context, args []string) error {
	fs, cn := c.flags("status", "JOB_ID ")
	wait := fs.Bool("wait", false, "follow the job until it ends")
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("status: one JOB_ID is required")
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()
	if *wait {
		return c.follow(ctx, client, cn.addr(), pos[0])
	}
	resp, err := client.GetBlacklistSyncJob(ctx, &scv1.GetBlacklistSyncJobRequest{JobId: pos[0]})
	if err != nil {
		return c.rpcError(cn.addr(), err)
	}
	j := resp.GetJob()
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"job", j.GetJobId()},
		{"state", stateName(j.GetState())},
		{"supplier", j.GetSettings().GetSupplierId()},
		{"operation", strings.ToLower(strings.TrimPrefix(j.GetSettings().GetOperateType().String(), "OPERATE_TYPE_"))},
		{"received", fmt.Sprint(j.GetReceivedCount())},
		{"rejected", fmt.Sprint(j.GetRejectedCount())},
		{"duplicates", fmt.Sprint(j.GetDuplicateCount())},
		{"to send", fmt.Sprintf("%d in %d chunks of %d", j.GetTotalCount(), j.GetChunkCount(), j.GetChunkSize())},
		{"sent", fmt.Sprint(j.GetSentCount())},
		{"acknowledged", fmt.Sprint(j.GetAcknowledgedCount())},
		{"failed", fmt.Sprint(j.GetFailedCount())},
		{"created", j.GetCreateTime().AsTime().Local().Format(time.RFC3339)},
		{"updated", j.GetUpdateTime().AsTime().Local().Format(time.RFC3339)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c.printLastError(j)
	return nil
}

func (c *cli) cancel(ctx context.Context, args []string) error {
	fs, cn := c.flags("cancel", "JOB_ID ")
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("cancel: one JOB_ID is required")
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()
	resp, err := client.CancelBlacklistSyncJob(ctx, &scv1.CancelBlacklistSyncJobRequest{JobId: pos[0]})
	if err != nil {
		return c.rpcError(cn.addr(), err)
	}
	j := resp.GetJob()
	fmt.Fprintf(c.stdout, "job %s cancelled: %d of %d acknowledged, %d failed; unsent chunks will not be sent\n",
		j.GetJobId(), j.GetAcknowledgedCount(), j.GetTotalCount(), j.GetFailedCount())
	return nil
}

// retry queues a failed job's failed chunks again (RetryFailedChunks) and
// follows the job unless --no-wait.
func (c *cli) retry(ctx context.Context, args []string) error {
	fs, cn := c.flags("retry", "JOB_ID ")
	noWait := fs.Bool("no-wait", false, "return once the chunks are queued, without following the job")
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("retry: one JOB_ID is required")
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()
	resp, err := client.RetryFailedChunks(ctx, &scv1.RetryFailedChunksRequest{JobId: pos[0]})
	if err != nil {
		return c.rpcError(cn.addr(), err)
	}
	j := resp.GetJob()
	fmt.Fprintf(c.stdout, "job %s: %d failed chunks queued again (same request ids); %d of %d acknowledged\n",
		j.GetJobId(), resp.GetChunksQueued(), j.GetAcknowledgedCount(), j.GetTotalCount())
	if *noWait {
		return nil
	}
	return c.follow(ctx, client, cn.addr(), j.GetJobId())
}

// rejections prints a job's rejected entries, every one (ListRejectedEntries
// page by page) or the first --limit.
func (c *cli) rejections(ctx context.Context, args []string) error {
	fs, cn := c.flags("rejections", "JOB_ID ")
	limit := fs.Int64("limit", 0, "show at most this many rejected entries; 0 shows them all")
	pos, err := c.parse(fs, cn, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("rejections: one JOB_ID is required")
	}
	if *limit < 0 {
		return errors.New("rejections: --limit must not be negative")
	}
	client, err := c.client(cn)
	if err != nil {
		return err
	}
	defer c.close()
	req := &scv1.ListRejectedEntriesRequest{JobId: pos[0], PageSize: 1000}
	var shown int64
	for *limit == 0 || shown < *limit {
		if *limit > 0 {
			req.PageSize = int32(min(*limit-shown, 1000))
		}
		page, err := client.ListRejectedEntries(ctx, req)
		if err != nil {
			return c.rpcError(cn.addr(), err)
		}
		for _, r := range page.GetRejections() {
			where := fmt.Sprintf("entry %d", r.GetIndex())
			if r.GetLine() > 0 {
				where = fmt.Sprintf("line %d", r.GetLine())
			}
			fmt.Fprintf(c.stdout, "%s: %s %s\n", where, r.GetField(), r.GetDescription())
			shown++
		}
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	if shown == 0 {
		fmt.Fprintln(c.stdout, "(no rejected entries)")
	}
	return nil
}

func stateName(s scv1.BlacklistSyncJobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "BLACKLIST_SYNC_JOB_STATE_"))
}

// countingReader counts the bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
