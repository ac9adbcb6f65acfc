package wasmfloor

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"sync"
	"testing"
)

type rsaCase struct {
	key    *rsa.PrivateKey
	digest []byte
	sig    []byte
}

var (
	rsaOnce sync.Once
	rsa2048 rsaCase
)

func rsaKey(tb testing.TB) rsaCase {
	rsaOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		d := sha256.Sum256([]byte(`{"alg":"RS256"}.{"sub":"alice"}`))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
		if err != nil {
			tb.Fatal(err)
		}
		rsa2048 = rsaCase{key, d[:], sig}
	})
	return rsa2048
}

// TestMontgomeryExp checks the instrument against math/big on random
// moduli of several sizes (limb counts below, at and above the unrolled
// width) and random bases and exponents, including e = 65537.
func TestMontgomeryExp(t *testing.T) {
	for _, bitLen := range []int{33, 224, 255, 256, 288, 1024, 2047, 2048, 3072} {
		for trial := range 8 {
			n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bitLen)))
			if err != nil {
				t.Fatal(err)
			}
			n.SetBit(n, bitLen-1, 1)
			n.SetBit(n, 0, 1)
			s, _ := rand.Int(rand.Reader, n)
			e := uint(65537)
			if trial > 0 {
				r, _ := rand.Int(rand.Reader, big.NewInt(1<<31))
				e = uint(r.Int64()) | 1
			}
			m := newMontgomery(n)
			k := len(m.n)
			got := make([]uint32, k)
			m.exp(got, limbs(s, k), e)
			want := limbs(new(big.Int).Exp(s, new(big.Int).SetUint64(uint64(e)), n), k)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%d bits, e=%d: limb %d is %#x, want %#x", bitLen, e, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkRS256Arithmetic sets crypto/rsa's whole PKCS #1 v1.5 check
// beside the bare s^e mod n it contains.
func BenchmarkRS256Arithmetic(b *testing.B) {
	c := rsaKey(b)
	pub := &c.key.PublicKey
	b.Run("crypto-rsa-verify", func(b *testing.B) {
		for b.Loop() {
			if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, c.digest, c.sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("math-big-exp", func(b *testing.B) {
		e := big.NewInt(int64(pub.E))
		s := new(big.Int).SetBytes(c.sig)
		z := new(big.Int)
		for b.Loop() {
			z.Exp(s, e, pub.N)
		}
	})
	b.Run("montgomery32-exp", func(b *testing.B) {
		m := newMontgomery(pub.N)
		s := limbs(new(big.Int).SetBytes(c.sig), len(m.n))
		z := make([]uint32, len(m.n))
		for b.Loop() {
			m.exp(z, s, uint(pub.E))
		}
	})
	b.Run("montgomery32-mul", func(b *testing.B) {
		m := newMontgomery(pub.N)
		s := limbs(new(big.Int).SetBytes(c.sig), len(m.n))
		z := make([]uint32, len(m.n))
		for b.Loop() {
			m.mul(z, s, s)
		}
	})
}

// BenchmarkES256Arithmetic is crypto/ecdsa's P-256 check, for scale.
func BenchmarkES256Arithmetic(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte(`{"alg":"ES256"}.{"sub":"alice"}`))
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("crypto-ecdsa-verify", func(b *testing.B) {
		for b.Loop() {
			if !ecdsa.VerifyASN1(&key.PublicKey, d[:], sig) {
				b.Fatal("signature refused")
			}
		}
	})
	b.Run("math-big-modinverse", func(b *testing.B) {
		n := elliptic.P256().Params().N
		s := new(big.Int).SetBytes(d[:])
		z := new(big.Int)
		for b.Loop() {
			z.ModInverse(s, n)
		}
	})
}
