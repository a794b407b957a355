package nn

// MatMul computes C = A·W + bias for A of m rows of W.K floats (row stride
// lda) and C of m rows of W.N floats (row stride ldc). With acc it adds to C
// instead: C += A·W + bias, which folds a residual connection into the
// product. The work is split by weight panel across the pool's workers, and
// each worker streams its panels once for all m rows. Weights in bfloat16
// stream half the bytes and are summed in float32.
func MatMul(p *Pool, c []float32, ldc int, a []float32, lda int, m int, w *Packed, acc bool) {
	if m == 0 {
		return
	}
	k := w.K
	np := w.Panels()
	ks := active
	p.For(np, func(_, lo, hi int) {
		var scratch [8 * panel]float32
		for pi := lo; pi < hi; pi++ {
			var b []float32
			var b16 []uint16
			if w.data16 != nil {
				b16 = w.data16[pi*k*panel : (pi+1)*k*panel]
			} else {
				b = w.data[pi*k*panel : (pi+1)*k*panel]
			}

			var bias []float32
			if w.Bias != nil {
				bias = w.Bias[pi*panel : (pi+1)*panel]
			}
			col := pi * panel
			full := col+panel <= w.N
			for i0 := 0; i0 < m; i0 += ks.mr {
				mr := min(ks.mr, m-i0)
				arow := a[i0*lda:]
				if full {
					if b16 != nil {
						ks.tileBF16(mr, k, arow, lda, b16, c[i0*ldc+col:], ldc, bias, acc)
					} else {
						ks.tile(mr, k, arow, lda, b, c[i0*ldc+col:], ldc, bias, acc)
					}
					continue
				}
				// A partial last panel goes through a scratch tile so the
				// kernel never writes past column N.
				valid := w.N - col
				for r := 0; r < mr; r++ {
					t := scratch[r*panel : (r+1)*panel]
					clear(t)
					if acc {
						copy(t, c[(i0+r)*ldc+col:(i0+r)*ldc+col+valid])
					}
				}
				if b16 != nil {
					ks.tileBF16(mr, k, arow, lda, b16, scratch[:], panel, bias, acc)
				} else {
					ks.tile(mr, k, arow, lda, b, scratch[:], panel, bias, acc)
				}
				for r := 0; r < mr; r++ {
					copy(c[(i0+r)*ldc+col:(i0+r)*ldc+col+valid], scratch[r*panel:r*panel+valid])
				}
			}
		}
	})
}
