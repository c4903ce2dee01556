package events

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
)

// confirmDropper is a TCP proxy in front of the emulator's TMC endpoint
// that forwards everything but the client's Confirm frames: servicecenterd
// receives and stores messages, and the channel never learns it did. It is
// the crash test's way to stop servicecenterd exactly between storing and
// confirming, whatever the timing. It reads the client's WebSocket frames
// (RFC 6455: masked, unfragmented, as every TMC client sends them) and the
// TMC frame inside with internal/tmc/frame.
type confirmDropper struct {
	lis     net.Listener
	target  string
	dropped atomic.Int64
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newConfirmDropper(t *testing.T, target string) *confirmDropper {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &confirmDropper{lis: lis, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's TMC address.
func (p *confirmDropper) URL() string { return "ws://" + p.lis.Addr().String() + "/" }

func (p *confirmDropper) close() {
	_ = p.lis.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *confirmDropper) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *confirmDropper) accept() {
	for {
		client, err := p.lis.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.track(client)
		p.track(server)
		p.wg.Go(func() {
			_, _ = io.Copy(client, server)
			_ = client.Close()
		})
		p.wg.Go(func() {
			_ = p.upstream(client, server)
			_ = server.Close()
		})
	}
}

// upstream copies the client's HTTP upgrade request, then its WebSocket
// frames, leaving out the TMC Confirm frames.
func (p *confirmDropper) upstream(client, server net.Conn) error {
	r := bufio.NewReader(client)
	for { // the request's header lines, up to the blank one
		line, err := r.ReadBytes('\n')
		if err != nil {
			return err
		}
		if _, err := server.Write(line); err != nil {
			return err
		}
		if bytes.Equal(line, []byte("\r\n")) {
			break
		}
	}
	for {
		raw, payload, opcode, err := readFrame(r)
		if err != nil {
			return err
		}
		if opcode == 2 { // binary: a TMC frame
			if f, err := frame.Decode(payload); err == nil {
				if k, ok := f.Kind(); ok && k == frame.KindConfirm {
					p.dropped.Add(1)
					continue
				}
			}
		}
		if _, err := server.Write(raw); err != nil {
			return err
		}
	}
}

// readFrame reads one WebSocket frame: its bytes as sent, its unmasked
// payload and its opcode.
func readFrame(r *bufio.Reader) (raw, payload []byte, opcode byte, err error) {
	head := make([]byte, 2, 14)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, nil, 0, err
	}
	opcode = head[0] & 0x0f
	masked := head[1]&0x80 != 0
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		ext := make([]byte, 2)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, nil, 0, err
		}
		head = append(head, ext...)
		n = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		ext := make([]byte, 8)
		if _, err := io.ReadFull(r, ext); err != nil {
			return nil, nil, 0, err
		}
		head = append(head, ext...)
		n = binary.BigEndian.Uint64(ext)
	}
	if n > 64<<20 {
		return nil, nil, 0, errors.New("frame too large for the test proxy")
	}
	var key []byte
	if masked {
		key = make([]byte, 4)
		if _, err := io.ReadFull(r, key); err != nil {
			return nil, nil, 0, err
		}
		head = append(head, key...)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, nil, 0, err
	}
	payload = bytes.Clone(body)
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return append(head, body...), payload, opcode, nil
}
