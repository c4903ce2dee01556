package tmc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/servicecenterd/servicecenterd/internal/tmc/frame"
)

// errNoID: a data frame without an id can be neither confirmed nor failed.
var errNoID = errors.New("data message without an integer id")

// messageOf reads a data frame's fields (docs/tmc.md, "Data message"). It
// returns the id whenever the frame has one, even with an error, so that
// the caller can report the failure.
func messageOf(f *frame.Frame, maxContent int64) (Message, error) {
	var m Message
	v, ok := f.Get(frame.HeaderID)
	if !ok {
		return m, errNoID
	}
	id, ok := v.Integer()
	if !ok || v.Format == frame.FormatDate {
		return m, errNoID
	}
	m.ID = id
	if v, ok := f.Get(frame.HeaderTopic); ok {
		if m.Topic, ok = v.Text(); !ok {
			return m, fmt.Errorf("message %d: topic has value format %d", id, v.Format)
		}
	}
	if m.Topic == "" {
		return m, fmt.Errorf("message %d: no topic", id)
	}
	if v, ok := f.Get(frame.HeaderContent); ok {
		c, err := content(v, maxContent)
		if err != nil {
			return m, fmt.Errorf("message %d: content: %w", id, err)
		}
		m.Content = c
	}
	m.PubTime = timeOf(f, frame.HeaderTime)
	m.OutTime = timeOf(f, frame.HeaderOutTime)
	m.PubAppKey = textOf(f, frame.HeaderPublisher)
	m.UserNick = textOf(f, frame.HeaderNick)
	m.DataID = textOf(f, frame.HeaderDataID)
	if v, ok := f.Get(frame.HeaderUserID); ok {
		if n, ok := v.Integer(); ok {
			m.UserID = n
		} else if s, ok := v.Text(); ok && s != "" {
			m.UserID, _ = strconv.ParseInt(s, 10, 64)
		}
	}
	if v, ok := f.Get(frame.HeaderRetried); ok {
		if n, ok := v.Integer(); ok && n >= 0 && n <= 1<<31-1 {
			m.Retried = int(n)
		}
	}
	return m, nil
}

// content is the payload: a string as is, a byte array gunzipped when it
// is gzip (the Java SDK's GZIPHelper.unzip) and as is otherwise, bounded
// by max bytes after inflating.
func content(v frame.Value, max int64) ([]byte, error) {
	switch v.Format {
	case frame.FormatVoid:
		return nil, nil
	case frame.FormatString:
		return []byte(v.Str), nil
	case frame.FormatByteArray:
		if len(v.Bytes) < 2 || v.Bytes[0] != 0x1f || v.Bytes[1] != 0x8b {
			return v.Bytes, nil
		}
		zr, err := gzip.NewReader(bytes.NewReader(v.Bytes))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, max+1))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if int64(len(out)) > max {
			return nil, fmt.Errorf("gzip: inflates to more than %d bytes", max)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("value format %d", v.Format)
	}
}

// timeOf reads a Date (or any integer) as milliseconds since the epoch, or
// a decimal string of them; anything else is the zero time.
func timeOf(f *frame.Frame, name string) time.Time {
	v, ok := f.Get(name)
	if !ok {
		return time.Time{}
	}
	ms, ok := v.Integer()
	if !ok {
		s, _ := v.Text()
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}
		}
		ms = n
	}
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func textOf(f *frame.Frame, name string) string {
	v, ok := f.Get(name)
	if !ok {
		return ""
	}
	s, _ := v.Text()
	return s
}
