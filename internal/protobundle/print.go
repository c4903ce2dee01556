package protobundle

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// printFile writes the .proto source of fd: syntax, package, imports,
// file options, messages (nested messages, maps, proto3 optional) and
// enums. It is meant for the google/rpc files, which Go links as
// descriptors only; anything else (services, extensions, real oneofs,
// field or message options, proto2) is an error rather than a file that
// says less than the descriptor. Comments are not in a linked descriptor,
// so the source has none; Build checks that it compiles back to the
// same descriptor.
func printFile(fd protoreflect.FileDescriptor, header string) (string, error) {
	if fd.Syntax() != protoreflect.Proto3 {
		return "", fmt.Errorf("%s: only proto3 files are printed", fd.Path())
	}
	if fd.Services().Len() > 0 || fd.Extensions().Len() > 0 {
		return "", fmt.Errorf("%s: services and extensions are not printed", fd.Path())
	}
	p := &printer{}
	p.b.WriteString(header)
	p.line(0, `syntax = "proto3";`)
	p.line(0, "")
	p.line(0, "package %s;", fd.Package())
	if fd.Imports().Len() > 0 {
		p.line(0, "")
		for i := range fd.Imports().Len() {
			p.line(0, "import %q;", fd.Imports().Get(i).Path())
		}
	}
	opts, err := options(fd.Options())
	if err != nil {
		return "", fmt.Errorf("%s: %w", fd.Path(), err)
	}
	if len(opts) > 0 {
		p.line(0, "")
		for _, o := range opts {
			p.line(0, "option %s;", o)
		}
	}
	for i := range fd.Enums().Len() {
		p.line(0, "")
		if err := p.enum(0, fd.Enums().Get(i)); err != nil {
			return "", err
		}
	}
	for i := range fd.Messages().Len() {
		p.line(0, "")
		if err := p.message(0, fd.Messages().Get(i)); err != nil {
			return "", err
		}
	}
	return p.b.String(), nil
}

type printer struct{ b strings.Builder }

func (p *printer) line(depth int, format string, args ...any) {
	if format != "" {
		p.b.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(&p.b, format, args...)
	}
	p.b.WriteByte('\n')
}

func (p *printer) enum(depth int, ed protoreflect.EnumDescriptor) error {
	if opts, err := options(ed.Options()); err != nil || len(opts) > 0 {
		return fmt.Errorf("enum %s: options are not printed (%v)", ed.FullName(), err)
	}
	p.line(depth, "enum %s {", ed.Name())
	for i := range ed.Values().Len() {
		v := ed.Values().Get(i)
		p.line(depth+1, "%s = %d;", v.Name(), v.Number())
	}
	p.line(depth, "}")
	return nil
}

func (p *printer) message(depth int, md protoreflect.MessageDescriptor) error {
	if opts, err := options(md.Options()); err != nil || len(opts) > 0 {
		return fmt.Errorf("message %s: options are not printed (%v)", md.FullName(), err)
	}
	if md.ExtensionRanges().Len() > 0 || md.Extensions().Len() > 0 || md.ReservedNames().Len() > 0 || md.ReservedRanges().Len() > 0 {
		return fmt.Errorf("message %s: extensions and reserved ranges are not printed", md.FullName())
	}
	for i := range md.Oneofs().Len() {
		if !md.Oneofs().Get(i).IsSynthetic() {
			return fmt.Errorf("message %s: oneofs are not printed", md.FullName())
		}
	}
	p.line(depth, "message %s {", md.Name())
	first := true
	sep := func() {
		if !first {
			p.line(0, "")
		}
		first = false
	}
	for i := range md.Enums().Len() {
		sep()
		if err := p.enum(depth+1, md.Enums().Get(i)); err != nil {
			return err
		}
	}
	for i := range md.Messages().Len() {
		nested := md.Messages().Get(i)
		if nested.IsMapEntry() {
			continue
		}
		sep()
		if err := p.message(depth+1, nested); err != nil {
			return err
		}
	}
	if md.Fields().Len() > 0 {
		sep()
	}
	for i := range md.Fields().Len() {
		f := md.Fields().Get(i)
		if opts, err := options(f.Options()); err != nil || len(opts) > 0 {
			return fmt.Errorf("field %s: options are not printed (%v)", f.FullName(), err)
		}
		p.line(depth+1, "%s%s %s = %d;", label(f), typeName(f), f.Name(), f.Number())
	}
	p.line(depth, "}")
	return nil
}

func label(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return ""
	case f.Cardinality() == protoreflect.Repeated:
		return "repeated "
	case f.HasOptionalKeyword():
		return "optional "
	}
	return ""
}

func typeName(f protoreflect.FieldDescriptor) string {
	if f.IsMap() {
		return fmt.Sprintf("map<%s, %s>", typeName(f.MapKey()), typeName(f.MapValue()))
	}
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "." + string(f.Message().FullName())
	case protoreflect.EnumKind:
		return "." + string(f.Enum().FullName())
	}
	return f.Kind().String()
}

// options lists the set fields of an options message as `name = value`,
// sorted by name; only scalar, string and enum options are supported.
func options(m protoreflect.ProtoMessage) ([]string, error) {
	var out []string
	var err error
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		if fd.IsExtension() {
			name = "(" + string(fd.FullName()) + ")"
		}
		if fd.Cardinality() == protoreflect.Repeated || fd.Kind() == protoreflect.MessageKind || fd.IsExtension() {
			err = fmt.Errorf("option %s is not printed", name)
			return false
		}
		var text string
		switch fd.Kind() {
		case protoreflect.StringKind:
			text = strconv.Quote(v.String())
		case protoreflect.EnumKind:
			ev := fd.Enum().Values().ByNumber(v.Enum())
			if ev == nil {
				err = fmt.Errorf("option %s: unknown enum value %d", name, v.Enum())
				return false
			}
			text = string(ev.Name())
		default:
			text = v.String()
		}
		out = append(out, name+" = "+text)
		return true
	})
	if err == nil && len(m.ProtoReflect().GetUnknown()) > 0 {
		err = fmt.Errorf("unknown options are not printed")
	}
	slices.Sort(out)
	return out, err
}
