package headermap

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, pairs := range [][][2]string{nil, {{":path", "/a"}}, {{"a", ""}, {"", "b"}, {"x-auth", "1,2"}}} {
		got, ok := Decode(Encode(pairs))
		if !ok || len(got) != len(pairs) || (len(pairs) > 0 && !reflect.DeepEqual(got, pairs)) {
			t.Errorf("%v -> %v %v", pairs, got, ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode([][2]string{{"a", "b"}}))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		pairs, ok := Decode(b)
		if ok && len(b) > 0 {
			if again := Encode(pairs); string(again) != string(b) {
				t.Fatalf("decode+encode changed %x to %x", b, again)
			}
		}
	})
}
