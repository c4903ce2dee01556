package tmc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMessageOf(t *testing.T) {
	pub := time.UnixMilli(1704135845000).UTC()
	out := time.UnixMilli(1704135846123).UTC()
	full := []frame.Header{
		{Name: frame.HeaderKind, Value: frame.Byte(3)},
		{Name: frame.HeaderID, Value: frame.Int64(2131800080537681927)},
		{Name: frame.HeaderTopic, Value: frame.Str("tmall_fuwu_WorkcardStatusUpdate")},
		{Name: frame.HeaderPublisher, Value: frame.Str("4272")},
		{Name: frame.HeaderUserID, Value: frame.Int64(720978815)},
		{Name: frame.HeaderNick, Value: frame.Str("test_shop")},
		{Name: frame.HeaderTime, Value: frame.Date(pub)},
		{Name: frame.HeaderOutTime, Value: frame.Date(out)},
		{Name: frame.HeaderDataID, Value: frame.Int64(7000000001)},
		{Name: frame.HeaderRetried, Value: frame.Byte(2)},
		{Name: frame.HeaderContent, Value: frame.Str(`{"a":1}`)},
	}
	want := Message{
		ID: 2131800080537681927, Topic: "tmall_fuwu_WorkcardStatusUpdate", Content: []byte(`{"a":1}`),
		PubTime: pub, PubAppKey: "4272", UserID: 720978815, UserNick: "test_shop", DataID: "7000000001", OutTime: out, Retried: 2,
	}
	with := func(name string, v frame.Value) []frame.Header {
		hs := append([]frame.Header(nil), full...)
		return append(hs, frame.Header{Name: name, Value: v})
	}
	tests := []struct {
		name    string
		headers []frame.Header
		want    func(m *Message)
		err     string
	}{
		{"all fields", full, func(*Message) {}, ""},
		{"gzip content", with(frame.HeaderContent, frame.ByteArray(gz(t, `{"b":2}`))), func(m *Message) { m.Content = []byte(`{"b":2}`) }, ""},
		{"plain byte array", with(frame.HeaderContent, frame.ByteArray([]byte("xml"))), func(m *Message) { m.Content = []byte("xml") }, ""},
		{"void content", with(frame.HeaderContent, frame.Void()), func(m *Message) { m.Content = nil }, ""},
		{"narrow integers", with(frame.HeaderUserID, frame.Int32(5)), func(m *Message) { m.UserID = 5 }, ""},
		{"user id as text", with(frame.HeaderUserID, frame.Str("6")), func(m *Message) { m.UserID = 6 }, ""},
		{"time as text", with(frame.HeaderTime, frame.Str("1704135845000")), func(*Message) {}, ""},
		{"time unreadable", with(frame.HeaderTime, frame.Str("yesterday")), func(m *Message) { m.PubTime = time.Time{} }, ""},
		{"dataid as text", with(frame.HeaderDataID, frame.Str("abc")), func(m *Message) { m.DataID = "abc" }, ""},
		{"broken gzip", with(frame.HeaderContent, frame.ByteArray([]byte{0x1f, 0x8b, 1, 2})), nil, "gzip"},
		{"gzip bomb", with(frame.HeaderContent, frame.ByteArray(gz(t, strings.Repeat("a", 2048)))), nil, "more than 1024 bytes"},
		{"content of a bad format", with(frame.HeaderContent, frame.Int64(1)), nil, "value format"},
		{"no topic", with(frame.HeaderTopic, frame.Void()), nil, "no topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := frame.Frame{Type: frame.Send, Headers: tt.headers}
			got, err := messageOf(&f, 1024)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if got.ID != want.ID {
					t.Errorf("id = %d: a failure must still quote the id", got.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := want
			w.Content = append([]byte(nil), want.Content...)
			tt.want(&w)
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, hs := range [][]frame.Header{
		nil,
		{{Name: frame.HeaderID, Value: frame.Str("1")}},
		{{Name: frame.HeaderID, Value: frame.Date(pub)}},
	} {
		f := frame.Frame{Headers: hs}
		if _, err := messageOf(&f, 1024); !errors.Is(err, errNoID) {
			t.Errorf("messageOf(%v) error = %v, want errNoID", hs, err)
		}
	}
}
