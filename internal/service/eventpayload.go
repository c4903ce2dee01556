package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/events"
)

// payloadFields maps each TMC topic with a typed payload to its field of
// Event's payload oneof: the message types that carry the tmctopic
// option (event_service.proto). Nothing else lists the topics.
var payloadFields = func() map[string]protoreflect.FieldDescriptor {
	out := map[string]protoreflect.FieldDescriptor{}
	fields := (&scv1.Event{}).ProtoReflect().Descriptor().Oneofs().ByName("payload").Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() == nil {
			continue
		}
		if topic, _ := proto.GetExtension(f.Message().Options(), scv1.E_Tmctopic).(string); topic != "" {
			out[topic] = f
		}
	}
	return out
}()

// TypedTopics lists the TMC topics Event has a typed payload for.
func TypedTopics() []string {
	out := make([]string, 0, len(payloadFields))
	for t := range payloadFields {
		out = append(out, t)
	}
	return out
}

// EventToProto converts a stored event for the API: the typed payload of
// its topic when it has one and the content fits it, else the content as
// a Struct (a JSON object) or as text. withContent also sets content.
func EventToProto(e events.Event, withContent bool) *scv1.Event {
	out := &scv1.Event{
		Cursor: e.Cursor, MessageId: e.MessageID, Topic: e.Topic, UserId: e.UserID, UserNick: e.UserNick,
		PublisherAppKey: e.PublisherAppKey, DataId: e.DataID, StoreTime: timestamppb.New(e.StoredTime),
	}
	if !e.PublishTime.IsZero() {
		out.PublishTime = timestamppb.New(e.PublishTime)
	}
	if withContent {
		out.Content = strings.ToValidUTF8(string(e.Content), "\uFFFD")
	}
	if f, ok := payloadFields[e.Topic]; ok {
		if m, err := decodeTyped(f.Message(), e.Content); err == nil {
			out.ProtoReflect().Set(f, protoreflect.ValueOfMessage(m))
			return out
		}
	}
	var obj map[string]any
	if json.Unmarshal(e.Content, &obj) == nil && obj != nil {
		if s, err := structpb.NewStruct(obj); err == nil {
			out.Payload = &scv1.Event_Raw{Raw: s}
			return out
		}
	}
	text := string(e.Content)
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	out.Payload = &scv1.Event_RawText{RawText: text}
	return out
}

// decodeTyped decodes a JSON object into a new message of type md, field
// by field (the JSON key is the field's name): what TMC sends is looser
// than protojson accepts (numbers as strings, times as epoch milliseconds
// or "yyyy-MM-dd HH:mm:ss", business objects as objects or as strings).
// Keys the message lacks are ignored; a value that does not fit its field
// is an error.
func decodeTyped(md protoreflect.MessageDescriptor, content []byte) (protoreflect.Message, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(content))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("content is not a JSON object")
	}
	m := payloadType(md).New()
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		raw, ok := obj[string(f.Name())]
		if !ok || string(raw) == "null" {
			continue
		}
		if f.IsList() {
			var items []json.RawMessage
			if err := json.Unmarshal(raw, &items); err != nil {
				return nil, fmt.Errorf("%s: want an array", f.Name())
			}
			list := m.Mutable(f).List()
			for _, it := range items {
				v, err := scalar(f, it)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.Name(), err)
				}
				list.Append(v)
			}
			continue
		}
		v, err := scalar(f, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		m.Set(f, v)
	}
	return m, nil
}

// payloadType is the generated type of a payload message.
func payloadType(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		panic(err) // every payload is generated into scv1, linked in
	}
	return mt
}

// scalar converts one JSON value for field f.
func scalar(f protoreflect.FieldDescriptor, raw json.RawMessage) (protoreflect.Value, error) {
	switch f.Kind() {
	case protoreflect.Int64Kind:
		n, err := jsonInt(raw)
		return protoreflect.ValueOfInt64(n), err
	case protoreflect.DoubleKind:
		x, err := jsonFloat(raw)
		return protoreflect.ValueOfFloat64(x), err
	case protoreflect.BoolKind:
		switch strings.Trim(string(raw), `"`) {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, errors.New("want a boolean")
	case protoreflect.StringKind:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return protoreflect.ValueOfString(s), nil
		}
		// A number, or a business object sent as an object: its JSON.
		return protoreflect.ValueOfString(string(raw)), nil
	case protoreflect.MessageKind:
		if f.Message().FullName() == "google.protobuf.Timestamp" {
			t, err := jsonTime(raw)
			if err != nil {
				return protoreflect.Value{}, err
			}
			return protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()), nil
		}
	}
	return protoreflect.Value{}, fmt.Errorf("unsupported field kind %s", f.Kind())
}

// jsonInt reads an integer sent as a number (integral) or a string.
func jsonInt(raw json.RawMessage) (int64, error) {
	text := strings.Trim(string(raw), `"`)
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	if x, err := strconv.ParseFloat(text, 64); err == nil && x == math.Trunc(x) && math.Abs(x) < 1<<63 {
		return int64(x), nil
	}
	return 0, fmt.Errorf("want an integer, got %.40s", raw)
}

// jsonFloat reads a number sent as a number or a string.
func jsonFloat(raw json.RawMessage) (float64, error) {
	x, err := strconv.ParseFloat(strings.Trim(string(raw), `"`), 64)
	if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
		return 0, fmt.Errorf("want a number, got %.40s", raw)
	}
	return x, nil
}

// chinaTime is TOP's time zone (UTC+8, no daylight saving): the zone of
// "yyyy-MM-dd HH:mm:ss" times.
var chinaTime = time.FixedZone("CST", 8*3600)

// jsonTime reads a time as TMC's d.ts allow (Date | number | string):
// epoch milliseconds (a number or digits), "yyyy-MM-dd HH:mm:ss" in China
// time, or RFC 3339.
func jsonTime(raw json.RawMessage) (time.Time, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	if t, err := time.ParseInLocation(time.DateTime, s, chinaTime); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a time (epoch milliseconds, yyyy-MM-dd HH:mm:ss or RFC 3339), got %.40s", raw)
}
