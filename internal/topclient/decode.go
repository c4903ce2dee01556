package topclient

import (
	"io"
	"strconv"

	"github.com/servicecenterd/servicecenterd/internal/top"
)

// readBounded reads r into buf (reusing its capacity) up to limit bytes and
// fails with a *tooLargeError beyond that. contentLength, when not -1, is used
// to size buf and to fail before reading.
func readBounded(r io.Reader, buf []byte, limit, contentLength int64) ([]byte, error) {
	if contentLength > limit {
		return buf, tooLarge(limit)
	}
	if contentLength >= 0 && int64(cap(buf)) < contentLength+1 {
		buf = make([]byte, 0, contentLength+1) // +1: room to see EOF without growing
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf[:0], tooLarge(limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf[:0], err
		}
	}
}

func tooLarge(limit int64) error {
	return &tooLargeError{limit: limit}
}

// tooLargeError is a body over Config.MaxResponseBytes.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return "body exceeds " + strconv.FormatInt(e.limit, 10) + " bytes"
}

// requestIDOf returns the request_id of a decoded response: a
// top.Response carries it; for anything else it is looked up in the body.
func requestIDOf(out any, body []byte) string {
	if r, ok := out.(top.Response); ok {
		return r.TOPRequestID()
	}
	return top.FindRequestID(body)
}
