// Package frame is the Taobao Message Channel's binary wire format: the
// frame codec (docs/tmc.md), the names and kinds of the messages
// (§4) and the handshake sign (§3.3). Both the TMC client (internal/tmc)
// and the emulator's TMC endpoint (internal/topemu) use it. It is our own
// code because no Go library speaks TMC.
//
// Decoding is strict where the sources let a decoder lose sync (an unknown
// header type or value format, a length past the end, trailing bytes) and
// lenient where the Java client is (any integer width for a numeric field,
// a count of 0 or less meaning null). Every length is checked against the
// bytes that remain before anything is allocated, so a hostile length
// costs nothing.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Protocol versions. Both have the same little-endian layout; a server
// answers in the version of the client's CONNECT.
const (
	Version1 uint8 = 1
	Version2 uint8 = 2
)

// Type is a frame's message type (byte 1).
type Type uint8

// The message types.
const (
	Connect    Type = 0
	ConnectAck Type = 1
	Send       Type = 2
	SendAck    Type = 3
)

// String names the type.
func (t Type) String() string {
	switch t {
	case Connect:
		return "CONNECT"
	case ConnectAck:
		return "CONNECTACK"
	case Send:
		return "SEND"
	case SendAck:
		return "SENDACK"
	default:
		return "type(" + strconv.Itoa(int(t)) + ")"
	}
}

// Header types (i16 LE).
const (
	headerEnd          int16 = 0
	headerCustom       int16 = 1
	headerStatusCode   int16 = 2
	headerStatusPhrase int16 = 3
	headerFlag         int16 = 4
	headerToken        int16 = 5
)

// Format is a custom header's value format (u8).
type Format uint8

// The value formats.
const (
	FormatVoid      Format = 0
	FormatString    Format = 1
	FormatByte      Format = 2
	FormatInt16     Format = 3
	FormatInt32     Format = 4
	FormatInt64     Format = 5
	FormatDate      Format = 6
	FormatByteArray Format = 7
)

// Kind is the `__kind` of a SEND (docs/tmc.md).
type Kind int8

// The message kinds.
const (
	KindNone    Kind = 0
	KindPull    Kind = 1
	KindConfirm Kind = 2
	KindData    Kind = 3
	KindFailed  Kind = 20
)

// Custom header names (docs/tmc.md).
const (
	HeaderKind       = "__kind"
	HeaderAppKey     = "app_key"
	HeaderGroupName  = "group_name"
	HeaderTimestamp  = "timestamp"
	HeaderSign       = "sign"
	HeaderSDK        = "sdk"
	HeaderIntranetIP = "intranet_ip"
	HeaderID         = "id"
	HeaderTopic      = "topic"
	HeaderContent    = "content"
	HeaderTime       = "time"
	HeaderPublisher  = "publisher"
	HeaderUserID     = "userid"
	HeaderNick       = "nick"
	HeaderDataID     = "dataid"
	HeaderOutTime    = "outtime"
	HeaderRetried    = "retried"
	HeaderMsg        = "msg"
)

// Value is a custom header's value: its format and, by format, the text
// (String), the integer (Byte, Int16, Int32, Int64; Date in milliseconds
// since the Unix epoch) or the bytes (ByteArray). Void is null.
type Value struct {
	Format Format
	Str    string
	Int    int64
	Bytes  []byte
}

// Str returns a String value.
func Str(s string) Value { return Value{Format: FormatString, Str: s} }

// Byte returns a Byte value.
func Byte(v int8) Value { return Value{Format: FormatByte, Int: int64(v)} }

// Int16 returns an Int16 value.
func Int16(v int16) Value { return Value{Format: FormatInt16, Int: int64(v)} }

// Int32 returns an Int32 value.
func Int32(v int32) Value { return Value{Format: FormatInt32, Int: int64(v)} }

// Int64 returns an Int64 value.
func Int64(v int64) Value { return Value{Format: FormatInt64, Int: v} }

// Date returns a Date value: t in milliseconds since the Unix epoch.
func Date(t time.Time) Value { return Value{Format: FormatDate, Int: t.UnixMilli()} }

// ByteArray returns a ByteArray value.
func ByteArray(b []byte) Value { return Value{Format: FormatByteArray, Bytes: b} }

// Void is the null value.
func Void() Value { return Value{Format: FormatVoid} }

// Integer returns the value as an integer when it is one of the integer
// formats (Byte, Int16, Int32, Int64) or a Date (milliseconds): senders
// differ in the width they choose (docs/tmc.md).
func (v Value) Integer() (int64, bool) {
	switch v.Format {
	case FormatByte, FormatInt16, FormatInt32, FormatInt64, FormatDate:
		return v.Int, true
	default:
		return 0, false
	}
}

// Text returns the value as text when it is a String (null counts as
// ""), or the decimal form of an integer.
func (v Value) Text() (string, bool) {
	switch v.Format {
	case FormatString:
		return v.Str, true
	case FormatVoid:
		return "", true
	case FormatByte, FormatInt16, FormatInt32, FormatInt64:
		return strconv.FormatInt(v.Int, 10), true
	default:
		return "", false
	}
}

// Header is one custom header.
type Header struct {
	Name  string
	Value Value
}

// Frame is one TMC message: one binary WebSocket message.
type Frame struct {
	// Version is the protocol version; 0 encodes as Version2.
	Version uint8
	// Type is the message type.
	Type Type
	// StatusCode is an error code of an ack (> 0 means error); 0 when unset.
	StatusCode int32
	// StatusPhrase is an ack's error text; "" when unset.
	StatusPhrase string
	// Flag correlates a request with its ack; 0 when unset.
	Flag int32
	// Token is the connection token; "" when unset.
	Token string
	// Headers are the custom headers in wire order.
	Headers []Header
}

// Get returns the value of the custom header name (the last one when the
// name repeats, as Java's map keeps it).
func (f *Frame) Get(name string) (Value, bool) {
	for i := len(f.Headers) - 1; i >= 0; i-- {
		if f.Headers[i].Name == name {
			return f.Headers[i].Value, true
		}
	}
	return Value{}, false
}

// Add appends a custom header.
func (f *Frame) Add(name string, v Value) {
	f.Headers = append(f.Headers, Header{Name: name, Value: v})
}

// Kind returns the frame's `__kind`, and false when it has none or it is
// not an integer.
func (f *Frame) Kind() (Kind, bool) {
	v, ok := f.Get(HeaderKind)
	if !ok {
		return KindNone, false
	}
	n, ok := v.Integer()
	if !ok || n < math.MinInt8 || n > math.MaxInt8 {
		return KindNone, false
	}
	return Kind(n), true
}

// Errors of Decode.
var (
	// ErrTruncated: the frame ends inside a header or a value.
	ErrTruncated = errors.New("tmc frame: truncated")
	// ErrMalformed: the frame is not a TMC frame (bad version, type,
	// header type or value format, or bytes after the end).
	ErrMalformed = errors.New("tmc frame: malformed")
)

// Encode returns f's wire form: the fixed headers that are set in the
// order StatusCode, StatusPhrase, Flag, Token, then the custom headers in
// order, then the end marker.
func (f *Frame) Encode() []byte { return f.AppendEncode(make([]byte, 0, f.size())) }

// AppendEncode appends f's wire form to b.
func (f *Frame) AppendEncode(b []byte) []byte {
	v := f.Version
	if v == 0 {
		v = Version2
	}
	b = append(b, v, byte(f.Type))
	if f.StatusCode > 0 {
		b = binary.LittleEndian.AppendUint16(b, uint16(headerStatusCode))
		b = binary.LittleEndian.AppendUint32(b, uint32(f.StatusCode))
	}
	if f.StatusPhrase != "" {
		b = binary.LittleEndian.AppendUint16(b, uint16(headerStatusPhrase))
		b = appendCounted(b, f.StatusPhrase)
	}
	if f.Flag > 0 {
		b = binary.LittleEndian.AppendUint16(b, uint16(headerFlag))
		b = binary.LittleEndian.AppendUint32(b, uint32(f.Flag))
	}
	if f.Token != "" {
		b = binary.LittleEndian.AppendUint16(b, uint16(headerToken))
		b = appendCounted(b, f.Token)
	}
	for _, h := range f.Headers {
		b = binary.LittleEndian.AppendUint16(b, uint16(headerCustom))
		b = appendCounted(b, h.Name)
		b = appendValue(b, h.Value)
	}
	return binary.LittleEndian.AppendUint16(b, uint16(headerEnd))
}

func (f *Frame) size() int {
	n := 2 + 2 + 6 + 6 + 6 + len(f.StatusPhrase) + 6 + len(f.Token)
	for _, h := range f.Headers {
		n += 2 + 4 + len(h.Name) + 1 + 8 + 4 + len(h.Value.Str) + len(h.Value.Bytes)
	}
	return n
}

func appendCounted(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v Value) []byte {
	switch v.Format {
	case FormatVoid:
		return append(b, byte(FormatVoid))
	case FormatString:
		return appendCounted(append(b, byte(FormatString)), v.Str)
	case FormatByte:
		return append(b, byte(FormatByte), byte(int8(v.Int)))
	case FormatInt16:
		return binary.LittleEndian.AppendUint16(append(b, byte(FormatInt16)), uint16(int16(v.Int)))
	case FormatInt32:
		return binary.LittleEndian.AppendUint32(append(b, byte(FormatInt32)), uint32(int32(v.Int)))
	case FormatInt64, FormatDate:
		return binary.LittleEndian.AppendUint64(append(b, byte(v.Format)), uint64(v.Int))
	case FormatByteArray:
		b = binary.LittleEndian.AppendUint32(append(b, byte(FormatByteArray)), uint32(len(v.Bytes)))
		return append(b, v.Bytes...)
	default:
		// An unknown format cannot be written faithfully: write null.
		return append(b, byte(FormatVoid))
	}
}

// Decode parses one frame. The frame's strings and byte arrays are copies:
// b may be reused afterwards.
func Decode(b []byte) (Frame, error) {
	d := decoder{b: b}
	var f Frame
	f.Version = d.u8()
	f.Type = Type(d.u8())
	if d.err != nil {
		return Frame{}, d.err
	}
	if f.Version != Version1 && f.Version != Version2 {
		return Frame{}, fmt.Errorf("%w: protocol version %d", ErrMalformed, f.Version)
	}
	if f.Type > SendAck {
		return Frame{}, fmt.Errorf("%w: message type %d", ErrMalformed, f.Type)
	}
	for {
		at := d.off
		h := d.i16()
		if d.err != nil {
			return Frame{}, d.err
		}
		switch h {
		case headerEnd:
			if d.off != len(b) {
				return Frame{}, fmt.Errorf("%w: %d bytes after the end of headers", ErrMalformed, len(b)-d.off)
			}
			return f, nil
		case headerCustom:
			name := d.counted()
			v := d.value()
			if d.err != nil {
				return Frame{}, d.err
			}
			f.Headers = append(f.Headers, Header{Name: name, Value: v})
		case headerStatusCode:
			// A code of 0 or less is no error (Java's isError is code > 0)
			// and an encoder never writes it: read it as unset.
			f.StatusCode = max(d.i32(), 0)
		case headerStatusPhrase:
			f.StatusPhrase = d.counted()
		case headerFlag:
			// As for the code: encoders write a flag only when it is > 0.
			f.Flag = max(d.i32(), 0)
		case headerToken:
			f.Token = d.counted()
		default:
			return Frame{}, fmt.Errorf("%w: header type %d at offset %d", ErrMalformed, h, at)
		}
		if d.err != nil {
			return Frame{}, d.err
		}
	}
}

type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrTruncated, n, d.off, len(d.b)-d.off)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u8() uint8 {
	p := d.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (d *decoder) i16() int16 {
	p := d.take(2)
	if p == nil {
		return 0
	}
	return int16(binary.LittleEndian.Uint16(p))
}

func (d *decoder) i32() int32 {
	p := d.take(4)
	if p == nil {
		return 0
	}
	return int32(binary.LittleEndian.Uint32(p))
}

func (d *decoder) i64() int64 {
	p := d.take(8)
	if p == nil {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(p))
}

// counted reads a CountedString; a count of 0 or less is null ("").
func (d *decoder) counted() string {
	n := d.i32()
	if n <= 0 {
		return ""
	}
	return string(d.take(int(n)))
}

func (d *decoder) value() Value {
	at := d.off
	f := Format(d.u8())
	if d.err != nil {
		return Value{}
	}
	switch f {
	case FormatVoid:
		return Value{Format: FormatVoid}
	case FormatString:
		return Value{Format: FormatString, Str: d.counted()}
	case FormatByte:
		return Value{Format: FormatByte, Int: int64(int8(d.u8()))}
	case FormatInt16:
		return Value{Format: FormatInt16, Int: int64(d.i16())}
	case FormatInt32:
		return Value{Format: FormatInt32, Int: int64(d.i32())}
	case FormatInt64, FormatDate:
		return Value{Format: f, Int: d.i64()}
	case FormatByteArray:
		n := d.i32()
		if n < 0 {
			d.err = fmt.Errorf("%w: negative byte array length %d at offset %d", ErrMalformed, n, at+1)
			return Value{}
		}
		p := d.take(int(n))
		if d.err != nil {
			return Value{}
		}
		return Value{Format: FormatByteArray, Bytes: append([]byte(nil), p...)}
	default:
		d.err = fmt.Errorf("%w: value format %d at offset %d", ErrMalformed, f, at)
		return Value{}
	}
}
