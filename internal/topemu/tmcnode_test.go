package topemu_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/topemu"
)

// TestTMCThirdPartyNodeClient: a TMC consumer that is not ours
// (examples/tmc-node/consumer.mjs, on the ws package, written from
// docs/tmc.md) connects to the emulator, receives and confirms.
func TestTMCThirdPartyNodeClient(t *testing.T) {
	dir := filepath.Join("..", "..", "examples", "tmc-node")
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join(dir, "node_modules", "ws", "package.json")); err != nil || statErr != nil {
		msg := "needs node and examples/tmc-node's npm packages: run `make tmc-node-deps` (npm ci)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	emu, err := topemu.New(topemu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		_ = emu.Close()
		srv.Close()
	})
	want := []topemu.TMCMessage{
		{Topic: topemu.TopicWorkcardInfo, Content: `{"result":"{\"workcard_id\":1}"}`},
		{Topic: topemu.TopicWorkcardStatusUpdate, Content: `{"workcard_id":1,"action":"complete","comment":"已完成"}`},
		{Topic: "tmall_servicecenter_TaskUpdate", Content: strings.Repeat("x", 70000)},
	}
	ids := make([]int64, len(want))
	for i, m := range want {
		if ids[i], err = emu.PublishTMC(m); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "consumer.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"TMC_URL=ws"+strings.TrimPrefix(srv.URL, "http")+"/",
		"TMC_APP_KEY="+topemu.DefaultAppKey, "TMC_APP_SECRET="+topemu.DefaultAppSecret,
		"TMC_COUNT="+strconv.Itoa(len(want)), "TMC_TIMEOUT_MS=30000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node consumer.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var got []nodeLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line nodeLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, line)
	}
	if len(got) != len(want) {
		t.Fatalf("the Node client printed %d messages, want %d:\n%s", len(got), len(want), out)
	}
	for i, g := range got {
		if g.ID != strconv.FormatInt(ids[i], 10) || g.Topic != want[i].Topic || g.Content != want[i].Content ||
			g.Publisher != "4272" || g.Retried != 0 || g.Time == "" {
			t.Errorf("message %d = %+v, want id %d %+v", i, g, ids[i], want[i])
		}
	}
	waitConfirmed := time.Now().Add(10 * time.Second)
	for emu.TMCStatus().Counters.Confirmed != int64(len(want)) {
		if time.Now().After(waitConfirmed) {
			t.Fatalf("counters = %+v, want %d confirmed", emu.TMCStatus().Counters, len(want))
		}
		time.Sleep(time.Millisecond)
	}
	if c := emu.TMCStatus().Counters; c.Connects != 1 || c.ConnectsRejected != 0 || c.Pulls == 0 || c.UnknownConfirms != 0 || c.Delivered != int64(len(want)) {
		t.Errorf("counters = %+v", c)
	}
}

// nodeLine is one message as consumer.mjs prints it.
type nodeLine struct {
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	Content   string `json:"content"`
	Time      string `json:"time"`
	Publisher string `json:"publisher"`
	Retried   int    `json:"retried"`
}
