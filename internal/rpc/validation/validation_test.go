package validation

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	scv1 "github.com/servicecenterd/servicecenterd/gen/go/servicecenter/v1"
	"github.com/servicecenterd/servicecenterd/internal/mainland"
)

// testNow is a fixed clock: 2026-03-15 01:30 in UTC+8, still the 14th in UTC.
var testNow = time.Date(2026, 3, 14, 17, 30, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// plainValidator is protovalidate alone, with the same clock: the
// reference the fast path must agree with.
func plainValidator(t testing.TB) protovalidate.Validator {
	t.Helper()
	v, err := protovalidate.New(protovalidate.WithNowFunc(func() *timestamppb.Timestamp { return timestamppb.New(testNow) }))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newValidator(t testing.TB) *Validator {
	t.Helper()
	v, err := New(fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// withCheck completes 17 digits with their GB 11643 check character.
func withCheck(body string) string {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

// idCases are ID numbers around every edge of the four rules.
func idCases(r *rand.Rand) []string {
	cases := []string{
		"11010519491231002X", "110105194912310021", "11010519491231002x", "440305197512250014", "33010619880606123X",
		"", "1", "11010519491231002", "11010519491231002X1", " 11010519491231002X", "11010519491231002X ",
		"1101051949123100２X", "a1010519491231002X", "11010519491231002Y", "１1010519491231002X",
	}
	dates := []string{
		"18991231", "19000101", "19000229", "19000228", "19040229", "20000229", "21000229", "19990229",
		"19990230", "19990431", "19990430", "19990631", "19991131", "19991231", "19990100", "19990001",
		"19991301", "19990132", "20260314", "20260315", "20260316", "20270101", "99991231", "00000000",
	}
	for _, d := range dates {
		body := "110105" + d + "002"
		good := withCheck(body)
		cases = append(cases, good)
		for _, c := range "0123456789X" {
			if s := body + string(c); s != good {
				cases = append(cases, s)
				break
			}
		}
	}
	for range 300 {
		body := fmt.Sprintf("%06d%04d%02d%02d%03d", r.IntN(1e6), 1890+r.IntN(150), r.IntN(14), r.IntN(33), r.IntN(1000))
		cases = append(cases, withCheck(body), body+strconv.Itoa(r.IntN(10)), body+"X")
	}
	return cases
}

// TestValidResidentIDAgreesWithCEL holds the native check to the CEL
// rules: a value is valid natively exactly when protovalidate finds no
// violation on the field.
func TestValidResidentIDAgreesWithCEL(t *testing.T) {
	plain := plainValidator(t)
	r := rand.New(rand.NewPCG(1, 2))
	valid := 0
	for _, id := range idCases(r) {
		cel := plain.Validate(&scv1.GetWorkerTagsRequest{IdNumber: id, Mobile: "13245678901"}) == nil
		if got := mainland.ValidResidentID(id, testNow); got != cel {
			t.Errorf("mainland.ValidResidentID(%q) = %v, CEL says %v", id, got, cel)
		}
		if cel {
			valid++
		}
	}
	if valid < 50 {
		t.Fatalf("only %d valid cases: the test does not exercise the fast path", valid)
	}
}

// TestValidatorMatchesProtovalidate checks that Validator's answer,
// violations included, is protovalidate's for every request shape (with
// message rules' fields named, see nameMessageRuleFields).
func TestValidatorMatchesProtovalidate(t *testing.T) {
	plain, fast := plainValidator(t), newValidator(t)
	r := rand.New(rand.NewPCG(3, 4))
	var msgs []proto.Message
	for _, id := range idCases(r) {
		for _, mobile := range []string{"13245678901", "12345678901", ""} {
			msgs = append(msgs, &scv1.GetWorkerTagsRequest{IdNumber: id, Mobile: mobile})
		}
		msgs = append(msgs, &scv1.UpdateWorkerRequest{Worker: &scv1.Worker{IdentityId: id, Name: "张师傅", Phone: "13245678901"}})
	}
	for _, mobile := range mobileCases(r) {
		msgs = append(msgs,
			&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: mobile},
			&scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerMobile: mobile, Type: scv1.OperatorType_OPERATOR_TYPE_STORE},
			&scv1.AssignWorkerRequest{WorkcardId: -1, TargetWorkerMobile: mobile})
	}
	msgs = append(msgs, &scv1.AssignWorkerRequest{WorkcardId: 2345678, TargetWorkerId: 1234567, Type: scv1.OperatorType_OPERATOR_TYPE_PROVIDER},
		&scv1.AssignWorkerRequest{}, nil)
	for _, m := range msgs {
		want, got := plain.Validate(m), fast.Validate(m)
		var verr *protovalidate.ValidationError
		if errors.As(want, &verr) {
			nameMessageRuleFields(m.ProtoReflect().Descriptor(), verr) // Validator's own addition
		}
		if fmt.Sprint(want) != fmt.Sprint(got) {
			t.Errorf("%v:\n got %v\nwant %v", m, got, want)
		}
	}
}

// mobileCases are mobile numbers around every edge of mainland_mobile.
func mobileCases(r *rand.Rand) []string {
	cases := []string{
		"13245678901", "19999999999", "13000000000", "12345678901", "10345678901", "23245678901", "1324567890",
		"132456789012", "", "1", "1a245678901", "1３245678901", " 13245678901", "13245678901 ", "13245678901\n",
		"+8613245678901", "１3245678901",
	}
	for range 200 {
		cases = append(cases, fmt.Sprintf("1%d%09d", r.IntN(10), r.IntN(1e9)), fmt.Sprintf("%011d", r.IntN(1e11)))
	}
	return cases
}

// TestValidMobileAgreesWithCEL holds the native mobile check to the CEL
// rule.
func TestValidMobileAgreesWithCEL(t *testing.T) {
	plain := plainValidator(t)
	valid := 0
	for _, m := range mobileCases(rand.New(rand.NewPCG(7, 8))) {
		cel := plain.Validate(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: m}) == nil
		if got := mainland.ValidMobile(m); got != cel {
			t.Errorf("mainland.ValidMobile(%q) = %v, CEL says %v", m, got, cel)
		}
		if cel {
			valid++
		}
	}
	if valid < 50 {
		t.Fatalf("only %d valid cases", valid)
	}
}

// FuzzValidMobile compares the native mobile check with the CEL rule.
func FuzzValidMobile(f *testing.F) {
	for _, s := range mobileCases(rand.New(rand.NewPCG(9, 10)))[:30] {
		f.Add(s)
	}
	plain := plainValidator(f)
	f.Fuzz(func(t *testing.T, m string) {
		cel := plain.Validate(&scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: m}) == nil
		if got := mainland.ValidMobile(m); got != cel {
			t.Errorf("mainland.ValidMobile(%q) = %v, CEL says %v", m, got, cel)
		}
	})
}

func TestPlans(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		msg  proto.Message
		want []protoreflect.Name
	}{
		{&scv1.GetWorkerTagsRequest{}, []protoreflect.Name{"id_number", "mobile"}},
		{&scv1.Worker{}, []protoreflect.Name{"identity_id", "phone"}},
		{&scv1.AssignWorkerRequest{}, []protoreflect.Name{"target_worker_mobile"}},
		{&scv1.UpdateWorkerRequest{}, nil}, // the worker's fields are nested: left to CEL
		{&scv1.BindVirtualPhoneRequest{}, nil},
	}
	for _, tt := range tests {
		p := v.plan(tt.msg.ProtoReflect().Descriptor())
		var got []protoreflect.Name
		for _, f := range p.fields {
			got = append(got, f.fd.Name())
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%T: fast fields %v, want %v", tt.msg, got, tt.want)
		}
	}
}

// FuzzValidResidentID compares the native check with the CEL rules on
// arbitrary strings.
func FuzzValidResidentID(f *testing.F) {
	for _, s := range idCases(rand.New(rand.NewPCG(5, 6)))[:60] {
		f.Add(s)
	}
	plain := plainValidator(f)
	f.Fuzz(func(t *testing.T, id string) {
		cel := plain.Validate(&scv1.GetWorkerTagsRequest{IdNumber: id, Mobile: "13245678901"}) == nil
		if got := mainland.ValidResidentID(id, testNow); got != cel {
			t.Errorf("mainland.ValidResidentID(%q) = %v, CEL says %v", id, got, cel)
		}
	})
}

// BenchmarkValidate compares protovalidate alone with Validator on a valid
// GetWorkerTags request.
func BenchmarkValidate(b *testing.B) {
	msg := &scv1.GetWorkerTagsRequest{IdNumber: "11010519491231002X", Mobile: "13245678901"}
	for _, c := range []struct {
		name string
		v    protovalidate.Validator
	}{{"protovalidate", plainValidator(b)}, {"validation", newValidator(b)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.v.Validate(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
