package wasmfloor

import "math/big"

// montgomery holds a modulus n as little-endian 32-bit limbs and what
// multiplication modulo n needs: -n⁻¹ mod 2³² and R² mod n, R = 2^(32·k).
type montgomery struct {
	n     []uint32
	nInv  uint32
	rr    []uint32
	t     []uint32 // scratch, k+1 limbs
	one   []uint32
	base  []uint32 // scratch for exp
	power []uint32
}

// newMontgomery prepares an odd modulus.
func newMontgomery(n *big.Int) *montgomery {
	k := (n.BitLen() + 31) / 32
	m := &montgomery{
		n: limbs(n, k), t: make([]uint32, k+1), one: make([]uint32, k),
		base: make([]uint32, k), power: make([]uint32, k),
	}
	m.one[0] = 1
	// Newton's iteration doubles the correct low bits of n[0]⁻¹ each step.
	inv := uint32(1)
	for range 5 {
		inv *= 2 - m.n[0]*inv
	}
	m.nInv = -inv
	r2 := new(big.Int).Lsh(big.NewInt(1), uint(64*k))
	m.rr = limbs(r2.Mod(r2, n), k)
	return m
}

// limbs writes x as k little-endian 32-bit limbs.
func limbs(x *big.Int, k int) []uint32 {
	b := x.FillBytes(make([]byte, 4*k))
	l := make([]uint32, k)
	for i := range l {
		j := len(b) - 4*i
		l[i] = uint32(b[j-1]) | uint32(b[j-2])<<8 | uint32(b[j-3])<<16 | uint32(b[j-4])<<24
	}
	return l
}

// mul sets z = a·b·R⁻¹ mod n for a, b < n (coarsely integrated
// operand scanning: one pass multiplies and reduces).
func (m *montgomery) mul(z, a, b []uint32) {
	n := m.n
	k := len(n)
	t := m.t[:k+1]
	clear(t)
	b = b[:k]
	for i := range k {
		ai := uint64(a[i])
		x := uint64(t[0]) + ai*uint64(b[0])
		c1 := x >> 32
		q := uint64(uint32(x) * m.nInv)
		c2 := (uint64(uint32(x)) + q*uint64(n[0])) >> 32
		j := 1
		for ; j+8 <= k; j += 8 {
			tt, bb, nn := t[j-1:j+8], b[j:j+8], n[j:j+8]
			_, _, _ = tt[8], bb[7], nn[7]
			tt[0], c1, c2 = step(tt[1], bb[0], nn[0], ai, q, c1, c2)
			tt[1], c1, c2 = step(tt[2], bb[1], nn[1], ai, q, c1, c2)
			tt[2], c1, c2 = step(tt[3], bb[2], nn[2], ai, q, c1, c2)
			tt[3], c1, c2 = step(tt[4], bb[3], nn[3], ai, q, c1, c2)
			tt[4], c1, c2 = step(tt[5], bb[4], nn[4], ai, q, c1, c2)
			tt[5], c1, c2 = step(tt[6], bb[5], nn[5], ai, q, c1, c2)
			tt[6], c1, c2 = step(tt[7], bb[6], nn[6], ai, q, c1, c2)
			tt[7], c1, c2 = step(tt[8], bb[7], nn[7], ai, q, c1, c2)
		}
		for ; j < k; j++ {
			t[j-1], c1, c2 = step(t[j], b[j], n[j], ai, q, c1, c2)
		}
		x = uint64(t[k]) + c1 + c2
		t[k-1] = uint32(x)
		t[k] = uint32(x >> 32)
	}
	// t < 2n here; one subtraction brings it below n.
	if t[k] == 0 && below(t[:k], n) {
		copy(z, t[:k])
		return
	}
	var borrow uint64
	for j := range k {
		d := uint64(t[j]) - uint64(n[j]) - borrow
		z[j] = uint32(d)
		borrow = d >> 63
	}
}

// step adds ai·bj and then q·nj into one limb tj, carrying c1 and c2,
// and returns the limb that lands one place lower.
func step(tj, bj, nj uint32, ai, q, c1, c2 uint64) (uint32, uint64, uint64) {
	x := uint64(tj) + ai*uint64(bj) + c1
	y := uint64(uint32(x)) + q*uint64(nj) + c2
	return uint32(y), x >> 32, y >> 32
}

// below reports a < b for limbs of one length.
func below(a, b []uint32) bool {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// exp sets z = s^e mod n for s < n and e ≥ 1, left to right.
func (m *montgomery) exp(z, s []uint32, e uint) {
	m.mul(m.base, s, m.rr) // s·R
	copy(m.power, m.base)
	top := 63
	for e>>uint(top) == 0 {
		top--
	}
	for i := top - 1; i >= 0; i-- {
		m.mul(m.power, m.power, m.power)
		if e>>uint(i)&1 == 1 {
			m.mul(m.power, m.power, m.base)
		}
	}
	m.mul(z, m.power, m.one) // out of the Montgomery form
}
