;; Fused decode-attention rows for @skvq/backend-cpu (WebAssembly SIMD, 128-bit).
;; Assembled at build time by scripts/build-wasm.mjs into src/wasm-bytes.ts.
;;
;; The host (src/fused-decode.ts, src/fused-packed.ts) owns the memory layout: the
;; configure* exports record the byte addresses of every buffer; each call then processes a
;; chunk of tokens the host copied into the chunk buffers:
;;   packedKeys / packedValues: token-group pages straight from their packed codes, four
;;     tokens per SIMD vector (see the section below);
;;   keyRows / valueRows: full-precision fp32 rows in original channel order (sinks, the
;;     window, dense caches, and formats the packed kernels do not decode).
;; Keys: RoPE at each token's position (cos/sin from the host), then one dot per query head
;; (GQA: query head h reads KV head h / group). Values: acc[h] += w[t, h] * v[h / group].
;; No dequantized copy of the cache exists.

(module
  (memory (export "memory") 1)

  ;; Layout: codes per byte of the format (8 bits: 1, 4: 2, 2: 4, 1.5: 5), 0 = fp32 rows.
  (global $per (mut i32) (i32.const 0))
  (global $rowBytes (mut i32) (i32.const 0))
  (global $channels (mut i32) (i32.const 0))
  (global $table (mut i32) (i32.const 0))
  (global $groups (mut i32) (i32.const 0))
  (global $offs (mut i32) (i32.const 0))
  (global $cbuf (mut i32) (i32.const 0))
  (global $rbuf (mut i32) (i32.const 0))
  ;; Geometry.
  (global $kvHeads (mut i32) (i32.const 0))
  (global $headDim (mut i32) (i32.const 0))
  (global $queryHeads (mut i32) (i32.const 0))
  (global $group (mut i32) (i32.const 0))
  ;; 0: no rotation, 1: pairwise (2i, 2i+1), 2: half (i, i + headDim/2).
  (global $mode (mut i32) (i32.const 0))
  ;; Per-call buffers.
  (global $q (mut i32) (i32.const 0))
  (global $codes (mut i32) (i32.const 0))
  (global $meta (mut i32) (i32.const 0))
  (global $cos (mut i32) (i32.const 0))
  (global $sin (mut i32) (i32.const 0))
  (global $scores (mut i32) (i32.const 0))
  (global $acc (mut i32) (i32.const 0))
  ;; Per chunk token: byte address of its row [queryHeads] in the step's score matrix
  ;; (position-major); keys write scale * q.k there, values read their weights there.
  (global $pos (mut i32) (i32.const 0))
  (global $scale (mut f32) (f32.const 1))

  (func (export "configureScores") (param $pos i32) (param $scale f32)
    (global.set $pos (local.get $pos))
    (global.set $scale (local.get $scale)))

  (func (export "configureLayout")
    (param $per i32) (param $rowBytes i32) (param $channels i32) (param $table i32)
    (param $groups i32) (param $offs i32) (param $cbuf i32) (param $rbuf i32)
    (global.set $per (local.get $per))
    (global.set $rowBytes (local.get $rowBytes))
    (global.set $channels (local.get $channels))
    (global.set $table (local.get $table))
    (global.set $groups (local.get $groups))
    (global.set $offs (local.get $offs))
    (global.set $cbuf (local.get $cbuf))
    (global.set $rbuf (local.get $rbuf)))

  (func (export "configureAttention")
    (param $kvHeads i32) (param $headDim i32) (param $queryHeads i32) (param $mode i32)
    (param $q i32) (param $codes i32) (param $meta i32) (param $cos i32) (param $sin i32)
    (param $scores i32) (param $acc i32)
    (global.set $kvHeads (local.get $kvHeads))
    (global.set $headDim (local.get $headDim))
    (global.set $queryHeads (local.get $queryHeads))
    (global.set $group (i32.div_u (local.get $queryHeads) (local.get $kvHeads)))
    (global.set $mode (local.get $mode))
    (global.set $q (local.get $q))
    (global.set $codes (local.get $codes))
    (global.set $meta (local.get $meta))
    (global.set $cos (local.get $cos))
    (global.set $sin (local.get $sin))
    (global.set $scores (local.get $scores))
    (global.set $acc (local.get $acc)))

  ;; Decodes n packed bytes at $src into codes at $dst: each byte's 8-byte table entry holds
  ;; its `per` codes (stored whole; the next entry overwrites the spare bytes). Returns the OR
  ;; of the entries: bit 63 marks an invalid ternary byte (> 242).
  (func $decode (param $src i32) (param $n i32) (param $dst i32) (result i64)
    (local $end i32) (local $flags i64) (local $e i64) (local $per i32) (local $table i32)
    (local.set $per (global.get $per))
    (local.set $table (global.get $table))
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (loop $l
        (local.set $e
          (i64.load
            (i32.add (local.get $table) (i32.shl (i32.load8_u (local.get $src)) (i32.const 3)))))
        (i64.store (local.get $dst) (local.get $e))
        (local.set $flags (i64.or (local.get $flags) (local.get $e)))
        (local.set $dst (i32.add (local.get $dst) (local.get $per)))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $src) (local.get $end)))))
    (local.get $flags))

  ;; Invalid-byte flags of the packed decodes since the last keys/values call.
  (global $flags (mut i64) (i64.const 0))

  ;; Token t's fp32 row of the chunk (original channel order).
  (func $row (param $t i32) (result i32)
    (i32.add (global.get $codes)
      (i32.mul (local.get $t) (i32.shl (global.get $channels) (i32.const 2)))))

  ;; RoPE of every KV head of row $src into rbuf; cos/sin rows of length headDim:
  ;; pairwise: c = [c0 c0 c1 c1 ..], s = [-s0 s0 -s1 s1 ..]; half: c, s of the first half.
  (func $rotate (param $src i32) (param $cos i32) (param $sin i32)
    (local $h i32) (local $d i32) (local $k v128) (local $a v128) (local $b v128)
    (local $c v128) (local $s v128) (local $base i32) (local $out i32) (local $half i32)
    (local $step i32)
    (local.set $step (i32.shl (global.get $headDim) (i32.const 2)))
    (local.set $half (i32.shl (global.get $headDim) (i32.const 1)))
    (local.set $out (global.get $rbuf))
    (block $hd
      (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (global.get $kvHeads)))
        (local.set $base (i32.add (local.get $src) (i32.mul (local.get $h) (local.get $step))))
        (local.set $d (i32.const 0))
        (if (i32.eq (global.get $mode) (i32.const 1))
          (then
            (block $pd
              (loop $pl
                (br_if $pd (i32.ge_u (local.get $d) (local.get $step)))
                (local.set $k (v128.load (i32.add (local.get $base) (local.get $d))))
                (v128.store (i32.add (local.get $out) (local.get $d))
                  (f32x4.add
                    (f32x4.mul (local.get $k) (v128.load (i32.add (local.get $cos) (local.get $d))))
                    (f32x4.mul
                      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11
                        (local.get $k) (local.get $k))
                      (v128.load (i32.add (local.get $sin) (local.get $d))))))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (br $pl))))
          (else
            (block $qd
              (loop $ql
                (br_if $qd (i32.ge_u (local.get $d) (local.get $half)))
                (local.set $a (v128.load (i32.add (local.get $base) (local.get $d))))
                (local.set $b (v128.load (i32.add (i32.add (local.get $base) (local.get $half)) (local.get $d))))
                (local.set $c (v128.load (i32.add (local.get $cos) (local.get $d))))
                (local.set $s (v128.load (i32.add (local.get $sin) (local.get $d))))
                (v128.store (i32.add (local.get $out) (local.get $d))
                  (f32x4.sub (f32x4.mul (local.get $a) (local.get $c))
                    (f32x4.mul (local.get $b) (local.get $s))))
                (v128.store (i32.add (i32.add (local.get $out) (local.get $half)) (local.get $d))
                  (f32x4.add (f32x4.mul (local.get $a) (local.get $s))
                    (f32x4.mul (local.get $b) (local.get $c))))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (br $ql)))))
        (local.set $out (i32.add (local.get $out) (local.get $step)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl))))

  ;; out[h] = q[h] . k[h / group] for every query head (headDim a multiple of 8).
  (func $dots (param $k i32) (param $out i32)
    (local $h i32) (local $d i32) (local $qp i32) (local $kp i32) (local $step i32)
    (local $a0 v128) (local $a1 v128)
    (local.set $step (i32.shl (global.get $headDim) (i32.const 2)))
    (local.set $qp (global.get $q))
    (block $hd
      (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (global.get $queryHeads)))
        (local.set $kp (i32.add (local.get $k)
          (i32.mul (i32.div_u (local.get $h) (global.get $group)) (local.get $step))))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $d (i32.const 0))
        (block $dd
          (loop $dl
            (br_if $dd (i32.ge_u (local.get $d) (local.get $step)))
            (local.set $a0 (f32x4.add (local.get $a0)
              (f32x4.mul (v128.load (i32.add (local.get $qp) (local.get $d)))
                (v128.load (i32.add (local.get $kp) (local.get $d))))))
            (local.set $a1 (f32x4.add (local.get $a1)
              (f32x4.mul (v128.load offset=16 (i32.add (local.get $qp) (local.get $d)))
                (v128.load offset=16 (i32.add (local.get $kp) (local.get $d))))))
            (local.set $d (i32.add (local.get $d) (i32.const 32)))
            (br $dl)))
        (local.set $a0 (f32x4.add (local.get $a0) (local.get $a1)))
        (f32.store (local.get $out) (f32.mul (global.get $scale)
          (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
            (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0))))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $qp (i32.add (local.get $qp) (local.get $step)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl))))

  ;; acc[h] += w[h] * v[h / group] for every query head with a non-zero weight.
  (func $axpy (param $v i32) (param $w i32)
    (local $h i32) (local $d i32) (local $ap i32) (local $vp i32) (local $step i32)
    (local $ww f32) (local $vw v128)
    (local.set $step (i32.shl (global.get $headDim) (i32.const 2)))
    (local.set $ap (global.get $acc))
    (block $hd
      (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (global.get $queryHeads)))
        (local.set $ww (f32.load (local.get $w)))
        (if (f32.ne (local.get $ww) (f32.const 0))
          (then
            (local.set $vw (f32x4.splat (local.get $ww)))
            (local.set $vp (i32.add (local.get $v)
              (i32.mul (i32.div_u (local.get $h) (global.get $group)) (local.get $step))))
            (local.set $d (i32.const 0))
            (block $dd
              (loop $dl
                (br_if $dd (i32.ge_u (local.get $d) (local.get $step)))
                (v128.store (i32.add (local.get $ap) (local.get $d))
                  (f32x4.add (v128.load (i32.add (local.get $ap) (local.get $d)))
                    (f32x4.mul (local.get $vw) (v128.load (i32.add (local.get $vp) (local.get $d))))))
                (v128.store offset=16 (i32.add (local.get $ap) (local.get $d))
                  (f32x4.add (v128.load offset=16 (i32.add (local.get $ap) (local.get $d)))
                    (f32x4.mul (local.get $vw)
                      (v128.load offset=16 (i32.add (local.get $vp) (local.get $d))))))
                (local.set $d (i32.add (local.get $d) (i32.const 32)))
                (br $dl)))))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $ap (i32.add (local.get $ap) (local.get $step)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl))))

  ;; Scores of `count` fp32 rows: row_t[h] = scale * q_h . RoPE(k_t).
  (func (export "keyRows") (param $count i32)
    (local $t i32) (local $k i32) (local $rowF i32)
    (local.set $rowF (i32.shl (global.get $headDim) (i32.const 2)))
    (block $td
      (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $count)))
        (local.set $k (call $row (local.get $t)))
        (if (global.get $mode)
          (then
            (call $rotate (local.get $k)
              (i32.add (global.get $cos) (i32.mul (local.get $t) (local.get $rowF)))
              (i32.add (global.get $sin) (i32.mul (local.get $t) (local.get $rowF))))
            (local.set $k (global.get $rbuf))))
        (call $dots (local.get $k)
          (i32.load (i32.add (global.get $pos) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl))))

  ;; acc += sum over `count` fp32 rows of w[t, h] * v_t (weights row_t[h]).
  (func (export "valueRows") (param $count i32)
    (local $t i32)
    (block $td
      (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $count)))
        (call $axpy (call $row (local.get $t))
          (i32.load (i32.add (global.get $pos) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl))))

  ;; ---- Packed token-group pages, four tokens per SIMD vector ---------------------------
  ;; Un-permuting a row costs one scalar load per channel; with the four tokens of a block
  ;; side by side in one vector, every address (code, group, RoPE pair, head) is shared by
  ;; four lanes, so each routing step serves four tokens. Per block the host provides:
  ;;   meta  [groups][scale x4, zero x4] f32,  rope [half][cos x4, sin x4] f32,
  ;;   and the address of each token's row in the step's score matrix ($pos): keys write
  ;;   their scores there, values read their weights there.
  (global $cstride (mut i32) (i32.const 0))
  (global $tbuf (mut i32) (i32.const 0))
  (global $pairs (mut i32) (i32.const 0))
  (global $qpair (mut i32) (i32.const 0))
  (global $headOff (mut i32) (i32.const 0))
  (global $accS (mut i32) (i32.const 0))
  (global $kq (mut i32) (i32.const 0))

  (func (export "configureBlocks")
    (param $cstride i32) (param $tbuf i32) (param $pairs i32) (param $qpair i32)
    (param $headOff i32) (param $accS i32) (param $kq i32)
    (global.set $cstride (local.get $cstride))
    (global.set $tbuf (local.get $tbuf))
    (global.set $pairs (local.get $pairs))
    (global.set $qpair (local.get $qpair))
    (global.set $headOff (local.get $headOff))
    (global.set $accS (local.get $accS))
    (global.set $kq (local.get $kq)))

  ;; 2-bit pages: the block's four rows decoded with SIMD shifts straight into tbuf. Bytes of
  ;; the rows are interleaved [byte][token]; code k of byte B (stored position 4B + k) is
  ;; (byte >> 2k) & 3; a 4x4 transpose of 32-bit lanes puts [B][k][token] in order. Reads up
  ;; to 15 bytes past the last row (inside the chunk buffer) and writes up to 60 codes past
  ;; the row into tbuf's padding.
  (func $decodeBlock2 (param $b i32)
    (local $j i32) (local $src i32) (local $dst i32) (local $rb i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $lo01 v128) (local $hi01 v128) (local $lo23 v128) (local $hi23 v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rb (global.get $rowBytes))
    (local.set $src (i32.add (global.get $codes)
      (i32.mul (i32.shl (local.get $b) (i32.const 2)) (local.get $rb))))
    (local.set $dst (global.get $tbuf))
    (block $jd
      (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $r0 (v128.load (local.get $src)))
        (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $rb))))
        (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rb) (i32.const 1)))))
        (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $rb) (i32.const 3)))))
        (local.set $lo01 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r0) (local.get $r1)))
        (local.set $hi01 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r0) (local.get $r1)))
        (local.set $lo23 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r2) (local.get $r3)))
        (local.set $hi23 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r2) (local.get $r3)))
        (local.set $y0 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $lo01) (local.get $lo23)))
        (local.set $y1 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $lo01) (local.get $lo23)))
        (local.set $y2 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $hi01) (local.get $hi23)))
        (local.set $y3 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $hi01) (local.get $hi23)))
        (local.set $c0 (v128.and (local.get $y0) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c1 (v128.and (i8x16.shr_u (local.get $y0) (i32.const 2)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c2 (v128.and (i8x16.shr_u (local.get $y0) (i32.const 4)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c3 (i8x16.shr_u (local.get $y0) (i32.const 6)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c0) (local.get $c1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c0) (local.get $c1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c2) (local.get $c3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c2) (local.get $c3)))
        (v128.store offset=0 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=16 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=32 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=48 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $c0 (v128.and (local.get $y1) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c1 (v128.and (i8x16.shr_u (local.get $y1) (i32.const 2)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c2 (v128.and (i8x16.shr_u (local.get $y1) (i32.const 4)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c3 (i8x16.shr_u (local.get $y1) (i32.const 6)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c0) (local.get $c1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c0) (local.get $c1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c2) (local.get $c3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c2) (local.get $c3)))
        (v128.store offset=64 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=80 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=96 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=112 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $c0 (v128.and (local.get $y2) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c1 (v128.and (i8x16.shr_u (local.get $y2) (i32.const 2)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c2 (v128.and (i8x16.shr_u (local.get $y2) (i32.const 4)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c3 (i8x16.shr_u (local.get $y2) (i32.const 6)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c0) (local.get $c1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c0) (local.get $c1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c2) (local.get $c3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c2) (local.get $c3)))
        (v128.store offset=128 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=144 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=160 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=176 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $c0 (v128.and (local.get $y3) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c1 (v128.and (i8x16.shr_u (local.get $y3) (i32.const 2)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c2 (v128.and (i8x16.shr_u (local.get $y3) (i32.const 4)) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
        (local.set $c3 (i8x16.shr_u (local.get $y3) (i32.const 6)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c0) (local.get $c1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c0) (local.get $c1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c2) (local.get $c3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c2) (local.get $c3)))
        (v128.store offset=192 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=208 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=224 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=240 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 256)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl))))

  ;; Ternary pages: as $decodeBlock2, with the five base-3 digits of each byte computed in
  ;; 16-bit lanes (x / 3 = (x * 171) >> 9, exact for x < 256). Byte B holds stored
  ;; positions 5B .. 5B+4, so each interleaved byte writes 20 bytes of tbuf. Bytes above 242
  ;; set the invalid flag; bytes read past a row belong to the next row of the block or to
  ;; the zeroed padding, so a flag always comes from a byte of this chunk.
  (func $decodeBlock3 (param $b i32)
    (local $j i32) (local $src i32) (local $dst i32) (local $rb i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $lo01 v128) (local $hi01 v128) (local $lo23 v128) (local $hi23 v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $xl v128) (local $xh v128) (local $ql v128) (local $qh v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128) (local $d4 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128) (local $bad v128)
    (local.set $rb (global.get $rowBytes))
    (local.set $src (i32.add (global.get $codes)
      (i32.mul (i32.shl (local.get $b) (i32.const 2)) (local.get $rb))))
    (local.set $dst (global.get $tbuf))
    (block $jd
      (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (local.get $rb)))
        (local.set $r0 (v128.load (local.get $src)))
        (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $rb))))
        (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rb) (i32.const 1)))))
        (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $rb) (i32.const 3)))))
        (local.set $lo01 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r0) (local.get $r1)))
        (local.set $hi01 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r0) (local.get $r1)))
        (local.set $lo23 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r2) (local.get $r3)))
        (local.set $hi23 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r2) (local.get $r3)))
        (local.set $y0 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $lo01) (local.get $lo23)))
        (local.set $y1 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $lo01) (local.get $lo23)))
        (local.set $y2 (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $hi01) (local.get $hi23)))
        (local.set $y3 (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $hi01) (local.get $hi23)))
        (local.set $bad (v128.or (local.get $bad) (i8x16.gt_u (local.get $y0) (v128.const i8x16 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242))))
        (local.set $xl (i16x8.extend_low_i8x16_u (local.get $y0)))
        (local.set $xh (i16x8.extend_high_i8x16_u (local.get $y0)))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d0 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d1 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d2 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d3 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d4 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3)))
        (v128.store offset=0 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=20 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=40 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=60 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (i32.store offset=16 (local.get $dst) (i32x4.extract_lane 0 (local.get $d4)))
        (i32.store offset=36 (local.get $dst) (i32x4.extract_lane 1 (local.get $d4)))
        (i32.store offset=56 (local.get $dst) (i32x4.extract_lane 2 (local.get $d4)))
        (i32.store offset=76 (local.get $dst) (i32x4.extract_lane 3 (local.get $d4)))
        (local.set $bad (v128.or (local.get $bad) (i8x16.gt_u (local.get $y1) (v128.const i8x16 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242))))
        (local.set $xl (i16x8.extend_low_i8x16_u (local.get $y1)))
        (local.set $xh (i16x8.extend_high_i8x16_u (local.get $y1)))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d0 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d1 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d2 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d3 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d4 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3)))
        (v128.store offset=80 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=100 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=120 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=140 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (i32.store offset=96 (local.get $dst) (i32x4.extract_lane 0 (local.get $d4)))
        (i32.store offset=116 (local.get $dst) (i32x4.extract_lane 1 (local.get $d4)))
        (i32.store offset=136 (local.get $dst) (i32x4.extract_lane 2 (local.get $d4)))
        (i32.store offset=156 (local.get $dst) (i32x4.extract_lane 3 (local.get $d4)))
        (local.set $bad (v128.or (local.get $bad) (i8x16.gt_u (local.get $y2) (v128.const i8x16 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242))))
        (local.set $xl (i16x8.extend_low_i8x16_u (local.get $y2)))
        (local.set $xh (i16x8.extend_high_i8x16_u (local.get $y2)))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d0 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d1 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d2 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d3 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d4 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3)))
        (v128.store offset=160 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=180 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=200 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=220 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (i32.store offset=176 (local.get $dst) (i32x4.extract_lane 0 (local.get $d4)))
        (i32.store offset=196 (local.get $dst) (i32x4.extract_lane 1 (local.get $d4)))
        (i32.store offset=216 (local.get $dst) (i32x4.extract_lane 2 (local.get $d4)))
        (i32.store offset=236 (local.get $dst) (i32x4.extract_lane 3 (local.get $d4)))
        (local.set $bad (v128.or (local.get $bad) (i8x16.gt_u (local.get $y3) (v128.const i8x16 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242 242))))
        (local.set $xl (i16x8.extend_low_i8x16_u (local.get $y3)))
        (local.set $xh (i16x8.extend_high_i8x16_u (local.get $y3)))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d0 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d1 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d2 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d3 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $ql (i16x8.shr_u (i16x8.mul (local.get $xl) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $qh (i16x8.shr_u (i16x8.mul (local.get $xh) (v128.const i16x8 171 171 171 171 171 171 171 171)) (i32.const 9)))
        (local.set $d4 (i8x16.narrow_i16x8_u
          (i16x8.sub (local.get $xl) (i16x8.mul (local.get $ql) (v128.const i16x8 3 3 3 3 3 3 3 3)))
          (i16x8.sub (local.get $xh) (i16x8.mul (local.get $qh) (v128.const i16x8 3 3 3 3 3 3 3 3)))))
        (local.set $xl (local.get $ql))
        (local.set $xh (local.get $qh))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d0) (local.get $d1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d0) (local.get $d1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $d2) (local.get $d3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $d2) (local.get $d3)))
        (v128.store offset=240 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=260 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=280 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=300 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (i32.store offset=256 (local.get $dst) (i32x4.extract_lane 0 (local.get $d4)))
        (i32.store offset=276 (local.get $dst) (i32x4.extract_lane 1 (local.get $d4)))
        (i32.store offset=296 (local.get $dst) (i32x4.extract_lane 2 (local.get $d4)))
        (i32.store offset=316 (local.get $dst) (i32x4.extract_lane 3 (local.get $d4)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 320)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl)))
    (if (v128.any_true (local.get $bad))
      (then (global.set $flags (i64.or (global.get $flags) (i64.const 0x8000000000000000))))))

  ;; Decodes the 4 rows of block $b into cbuf rows, then interleaves them into
  ;; tbuf[j] = (code_t0, code_t1, code_t2, code_t3) bytes.
  (func $decodeBlock (param $b i32)
    (local $t i32) (local $j i32) (local $r0 v128) (local $r1 v128) (local $r2 v128)
    (local $r3 v128) (local $lo01 v128) (local $hi01 v128) (local $lo23 v128)
    (local $hi23 v128) (local $src i32) (local $dst i32) (local $cs i32)
    (if (i32.eq (global.get $per) (i32.const 4))
      (then (call $decodeBlock2 (local.get $b)) (return)))
    (if (i32.eq (global.get $per) (i32.const 5))
      (then (call $decodeBlock3 (local.get $b)) (return)))
    (block $td
      (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (i32.const 4)))
        (global.set $flags (i64.or (global.get $flags)
          (call $decode
            (i32.add (global.get $codes)
              (i32.mul (i32.add (i32.shl (local.get $b) (i32.const 2)) (local.get $t))
                (global.get $rowBytes)))
            (global.get $rowBytes)
            (i32.add (global.get $cbuf) (i32.mul (local.get $t) (global.get $cstride))))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl)))
    (local.set $cs (global.get $cstride))
    (local.set $src (global.get $cbuf))
    (local.set $dst (global.get $tbuf))
    (block $jd
      (loop $jl
        (br_if $jd (i32.ge_u (local.get $j) (global.get $channels)))
        (local.set $r0 (v128.load (local.get $src)))
        (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $cs))))
        (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $cs) (i32.const 1)))))
        (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $cs) (i32.const 3)))))
        (local.set $lo01 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r0) (local.get $r1)))
        (local.set $hi01 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r0) (local.get $r1)))
        (local.set $lo23 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $r2) (local.get $r3)))
        (local.set $hi23 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $r2) (local.get $r3)))
        (v128.store (local.get $dst)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $lo01) (local.get $lo23)))
        (v128.store offset=16 (local.get $dst)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $lo01) (local.get $lo23)))
        (v128.store offset=32 (local.get $dst)
          (i8x16.shuffle 0 1 16 17 2 3 18 19 4 5 20 21 6 7 22 23 (local.get $hi01) (local.get $hi23)))
        (v128.store offset=48 (local.get $dst)
          (i8x16.shuffle 8 9 24 25 10 11 26 27 12 13 28 29 14 15 30 31 (local.get $hi01) (local.get $hi23)))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (local.set $j (i32.add (local.get $j) (i32.const 16)))
        (br $jl))))

  ;; Block b's [queryHeads][4] sums at $out -> scale * sum into each token's score row.
  (func $scatterScores (param $b i32) (param $out i32)
    (local $h i32) (local $v v128) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32)
    (local $p i32)
    (local.set $p (i32.add (global.get $pos) (i32.shl (local.get $b) (i32.const 4))))
    (local.set $r0 (i32.load (local.get $p)))
    (local.set $r1 (i32.load offset=4 (local.get $p)))
    (local.set $r2 (i32.load offset=8 (local.get $p)))
    (local.set $r3 (i32.load offset=12 (local.get $p)))
    (block $hd
      (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (global.get $queryHeads)))
        (local.set $v (f32x4.mul (v128.load (local.get $out)) (f32x4.splat (global.get $scale))))
        (f32.store (local.get $r0) (f32x4.extract_lane 0 (local.get $v)))
        (f32.store (local.get $r1) (f32x4.extract_lane 1 (local.get $v)))
        (f32.store (local.get $r2) (f32x4.extract_lane 2 (local.get $v)))
        (f32.store (local.get $r3) (f32x4.extract_lane 3 (local.get $v)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 4)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 4)))
        (local.set $r3 (i32.add (local.get $r3) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl))))

  ;; Block b's weights [queryHeads][4] gathered from the four tokens' score rows into $w.
  (func $gatherWeights (param $b i32) (param $w i32)
    (local $h i32) (local $r0 i32) (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $p i32)
    (local.set $p (i32.add (global.get $pos) (i32.shl (local.get $b) (i32.const 4))))
    (local.set $r0 (i32.load (local.get $p)))
    (local.set $r1 (i32.load offset=4 (local.get $p)))
    (local.set $r2 (i32.load offset=8 (local.get $p)))
    (local.set $r3 (i32.load offset=12 (local.get $p)))
    (block $hd
      (loop $hl
        (br_if $hd (i32.ge_u (local.get $h) (global.get $queryHeads)))
        (v128.store (local.get $w)
          (v128.load32_lane 3 (local.get $r3)
            (v128.load32_lane 2 (local.get $r2)
              (v128.load32_lane 1 (local.get $r1)
                (v128.load32_zero (local.get $r0))))))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
        (local.set $r1 (i32.add (local.get $r1) (i32.const 4)))
        (local.set $r2 (i32.add (local.get $r2) (i32.const 4)))
        (local.set $r3 (i32.add (local.get $r3) (i32.const 4)))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $h (i32.add (local.get $h) (i32.const 1)))
        (br $hl))))

  ;; Keys of block b dequantized in stored order: kq[j] = four lanes of
  ;; f32(f32(code * scale) + zero), group by group (four stored positions per 16-byte load).
  (func $dequantBlock (param $mblk i32)
    (local $g i32) (local $j i32) (local $e i32) (local $o i32) (local $a i32)
    (local $s4 v128) (local $z4 v128) (local $c16 v128) (local $lo v128) (local $hi v128)
    (local.set $o (global.get $offs))
    (block $gd
      (loop $gl
        (br_if $gd (i32.ge_u (local.get $g) (global.get $groups)))
        (local.set $s4 (v128.load (local.get $mblk)))
        (local.set $z4 (v128.load offset=16 (local.get $mblk)))
        (local.set $j (i32.load (local.get $o)))
        (local.set $e (i32.load offset=4 (local.get $o)))
        (block $vd
          (loop $vl
            (br_if $vd (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $e)))
            (local.set $a (i32.add (global.get $kq) (i32.shl (local.get $j) (i32.const 4))))
            (local.set $c16 (v128.load (i32.add (global.get $tbuf) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $lo (i16x8.extend_low_i8x16_u (local.get $c16)))
            (local.set $hi (i16x8.extend_high_i8x16_u (local.get $c16)))
            (v128.store (local.get $a) (f32x4.add (f32x4.mul
              (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $lo))) (local.get $s4)) (local.get $z4)))
            (v128.store offset=16 (local.get $a) (f32x4.add (f32x4.mul
              (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $lo))) (local.get $s4)) (local.get $z4)))
            (v128.store offset=32 (local.get $a) (f32x4.add (f32x4.mul
              (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $hi))) (local.get $s4)) (local.get $z4)))
            (v128.store offset=48 (local.get $a) (f32x4.add (f32x4.mul
              (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $hi))) (local.get $s4)) (local.get $z4)))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $vl)))
        (block $sd
          (loop $sl
            (br_if $sd (i32.ge_u (local.get $j) (local.get $e)))
            (v128.store (i32.add (global.get $kq) (i32.shl (local.get $j) (i32.const 4)))
              (f32x4.add (f32x4.mul
                (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                  (v128.load32_zero (i32.add (global.get $tbuf) (i32.shl (local.get $j) (i32.const 2)))))))
                (local.get $s4)) (local.get $z4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $sl)))
        (local.set $mblk (i32.add (local.get $mblk) (i32.const 32)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gl))))

  ;; Scores of `blocks` blocks of 4 tokens. The pair table holds per RoPE pair (KV head
  ;; major, then pair i) the kq addresses of channel a and of its partner b. qpair holds per (query head, pair) the rotated query's (q_a, q_b).
  ;; k_a' = k_a cos - k_b sin, k_b' = k_a sin + k_b cos; score += q_a k_a' + q_b k_b'.
  ;; No rotation (keys post-RoPE or no RoPE): the host gives cos = 1, sin = 0.
  (func (export "packedKeys") (param $blocks i32) (result i32)
    (local $b i32) (local $kh i32) (local $i i32) (local $g i32) (local $pt i32)
    (local $mblk i32) (local $csb i32) (local $out i32) (local $half i32) (local $h i32)
    (local $ka v128) (local $kb v128) (local $c v128) (local $s v128) (local $ra v128)
    (local $rb v128) (local $qp i32) (local $o i32) (local $acc v128)
    (local $qh i32)
    (global.set $flags (i64.const 0))
    (local.set $half (i32.shr_u (global.get $headDim) (i32.const 1)))
    (block $bd
      (loop $bl
        (br_if $bd (i32.ge_u (local.get $b) (local.get $blocks)))
        (call $decodeBlock (local.get $b))
        (local.set $mblk (i32.add (global.get $meta)
          (i32.mul (local.get $b) (i32.shl (global.get $groups) (i32.const 5)))))
        (call $dequantBlock (local.get $mblk))
        (local.set $out (global.get $scores))
        (memory.fill (local.get $out) (i32.const 0) (i32.shl (global.get $queryHeads) (i32.const 4)))
        (local.set $pt (global.get $pairs))
        (local.set $kh (i32.const 0))
        (block $kd
          (loop $kl
            (br_if $kd (i32.ge_u (local.get $kh) (global.get $kvHeads)))
            (local.set $csb (i32.add (global.get $cos)
              (i32.mul (local.get $b) (i32.shl (local.get $half) (i32.const 5)))))
            (local.set $i (i32.const 0))
            (local.set $acc (v128.const i32x4 0 0 0 0))
            (local.set $qh (i32.add (global.get $qpair)
              (i32.shl (i32.mul (local.get $kh) (local.get $half)) (i32.const 3))))
            ;; MHA: one query head per KV head, its sum stays in a register (this loop
            ;; takes every pair; the general loop below then has nothing left).
            (if (i32.eq (global.get $group) (i32.const 1))
              (then
                (block $md
                  (loop $ml
                    (br_if $md (i32.ge_u (local.get $i) (local.get $half)))
                    (local.set $ka (v128.load (i32.load (local.get $pt))))
                    (local.set $kb (v128.load (i32.load offset=4 (local.get $pt))))
                    (local.set $c (v128.load (local.get $csb)))
                    (local.set $s (v128.load offset=16 (local.get $csb)))
                    (local.set $ra (f32x4.sub (f32x4.mul (local.get $ka) (local.get $c))
                      (f32x4.mul (local.get $kb) (local.get $s))))
                    (local.set $rb (f32x4.add (f32x4.mul (local.get $ka) (local.get $s))
                      (f32x4.mul (local.get $kb) (local.get $c))))
                    (local.set $acc (f32x4.add (local.get $acc) (f32x4.add
                      (f32x4.mul (v128.load32_splat (local.get $qh)) (local.get $ra))
                      (f32x4.mul (v128.load32_splat offset=4 (local.get $qh)) (local.get $rb)))))
                    (local.set $qh (i32.add (local.get $qh) (i32.const 8)))
                    (local.set $pt (i32.add (local.get $pt) (i32.const 8)))
                    (local.set $csb (i32.add (local.get $csb) (i32.const 32)))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br $ml)))))
            (block $id
              (loop $il
                (br_if $id (i32.ge_u (local.get $i) (local.get $half)))
                (local.set $ka (v128.load (i32.load (local.get $pt))))
                (local.set $kb (v128.load (i32.load offset=4 (local.get $pt))))
                (local.set $c (v128.load (local.get $csb)))
                (local.set $s (v128.load offset=16 (local.get $csb)))
                (local.set $ra (f32x4.sub (f32x4.mul (local.get $ka) (local.get $c))
                  (f32x4.mul (local.get $kb) (local.get $s))))
                (local.set $rb (f32x4.add (f32x4.mul (local.get $ka) (local.get $s))
                  (f32x4.mul (local.get $kb) (local.get $c))))
                ;; GQA: every query head of this KV head's group.
                (local.set $g (i32.const 0))
                (local.set $h (i32.mul (local.get $kh) (global.get $group)))
                (block $gd
                  (loop $gl
                    (br_if $gd (i32.ge_u (local.get $g) (global.get $group)))
                    (local.set $qp (i32.add (global.get $qpair)
                      (i32.shl (i32.add (i32.mul (local.get $h) (local.get $half)) (local.get $i))
                        (i32.const 3))))
                    (local.set $o (i32.add (local.get $out) (i32.shl (local.get $h) (i32.const 4))))
                    (v128.store (local.get $o)
                      (f32x4.add (v128.load (local.get $o))
                        (f32x4.add
                          (f32x4.mul (v128.load32_splat (local.get $qp)) (local.get $ra))
                          (f32x4.mul (v128.load32_splat offset=4 (local.get $qp)) (local.get $rb)))))
                    (local.set $h (i32.add (local.get $h) (i32.const 1)))
                    (local.set $g (i32.add (local.get $g) (i32.const 1)))
                    (br $gl)))
                (local.set $pt (i32.add (local.get $pt) (i32.const 8)))
                (local.set $csb (i32.add (local.get $csb) (i32.const 32)))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $il)))
            (if (i32.eq (global.get $group) (i32.const 1))
              (then (v128.store (i32.add (local.get $out) (i32.shl (local.get $kh) (i32.const 4)))
                (local.get $acc))))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $kl)))
        (call $scatterScores (local.get $b) (local.get $out))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bl)))
    (i32.wrap_i64 (i64.shr_u (global.get $flags) (i64.const 63))))

  ;; Values of `blocks` blocks of 4 tokens, in stored order (no un-permuting per token):
  ;; accS[gq][j] (4 lanes, one per token slot) += w[kvHead(j) * group + gq] * v[j], where
  ;; headOff[j] = kvHead(perm[j]) * group * 16. The host sums the lanes and un-permutes.
  (func $valuesSingle (param $b i32) (param $blocks i32)
    (local $g i32) (local $j i32) (local $e i32) (local $gq i32)
    (local $mblk i32) (local $wblk i32) (local $s4 v128) (local $z4 v128) (local $v v128)
    (local $w i32) (local $a i32) (local $o i32) (local $plane i32) (local $hp i32)
    (local $c16 v128) (local $lo v128) (local $hi v128)
    (local.set $plane (i32.shl (global.get $channels) (i32.const 4)))
    (block $bd
      (loop $bl
        (br_if $bd (i32.ge_u (local.get $b) (local.get $blocks)))
        (call $decodeBlock (local.get $b))
        (local.set $mblk (i32.add (global.get $meta)
          (i32.mul (local.get $b) (i32.shl (global.get $groups) (i32.const 5)))))
        (local.set $wblk (global.get $scores))
        (call $gatherWeights (local.get $b) (local.get $wblk))
        (local.set $o (global.get $offs))
        (local.set $g (i32.const 0))
        (block $gd
          (loop $gl
            (br_if $gd (i32.ge_u (local.get $g) (global.get $groups)))
            (local.set $s4 (v128.load (local.get $mblk)))
            (local.set $z4 (v128.load offset=16 (local.get $mblk)))
            (local.set $j (i32.load (local.get $o)))
            (local.set $e (i32.load offset=4 (local.get $o)))
            ;; MHA: four stored positions per iteration from one 16-byte load of tbuf.
            (if (i32.eq (global.get $group) (i32.const 1))
              (then
                (block $md
                  (loop $ml
                    (br_if $md (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $e)))
                    (local.set $hp (i32.add (global.get $headOff) (i32.shl (local.get $j) (i32.const 2))))
                    (local.set $a (i32.add (global.get $accS) (i32.shl (local.get $j) (i32.const 4))))
                    (local.set $c16 (v128.load (i32.add (global.get $tbuf) (i32.shl (local.get $j) (i32.const 2)))))
                    (local.set $lo (i16x8.extend_low_i8x16_u (local.get $c16)))
                    (local.set $hi (i16x8.extend_high_i8x16_u (local.get $c16)))
                    (v128.store (local.get $a) (f32x4.add (v128.load (local.get $a))
                      (f32x4.mul (v128.load (i32.add (local.get $wblk) (i32.load (local.get $hp))))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $lo)))
                          (local.get $s4)) (local.get $z4)))))
                    (v128.store offset=16 (local.get $a) (f32x4.add (v128.load offset=16 (local.get $a))
                      (f32x4.mul (v128.load (i32.add (local.get $wblk) (i32.load offset=4 (local.get $hp))))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $lo)))
                          (local.get $s4)) (local.get $z4)))))
                    (v128.store offset=32 (local.get $a) (f32x4.add (v128.load offset=32 (local.get $a))
                      (f32x4.mul (v128.load (i32.add (local.get $wblk) (i32.load offset=8 (local.get $hp))))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $hi)))
                          (local.get $s4)) (local.get $z4)))))
                    (v128.store offset=48 (local.get $a) (f32x4.add (v128.load offset=48 (local.get $a))
                      (f32x4.mul (v128.load (i32.add (local.get $wblk) (i32.load offset=12 (local.get $hp))))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $hi)))
                          (local.get $s4)) (local.get $z4)))))
                    (local.set $j (i32.add (local.get $j) (i32.const 4)))
                    (br $ml)))))
            (block $jd
              (loop $jl
                (br_if $jd (i32.ge_u (local.get $j) (local.get $e)))
                (local.set $v (f32x4.add
                  (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (i32.add (global.get $tbuf) (i32.shl (local.get $j) (i32.const 2)))))))
                    (local.get $s4))
                  (local.get $z4)))
                (local.set $w (i32.add (local.get $wblk)
                  (i32.load (i32.add (global.get $headOff) (i32.shl (local.get $j) (i32.const 2))))))
                (local.set $a (i32.add (global.get $accS) (i32.shl (local.get $j) (i32.const 4))))
                (if (i32.eq (global.get $group) (i32.const 1))
                  (then
                    (v128.store (local.get $a)
                      (f32x4.add (v128.load (local.get $a))
                        (f32x4.mul (v128.load (local.get $w)) (local.get $v)))))
                  (else
                    (local.set $gq (i32.const 0))
                    (block $qd
                      (loop $ql
                        (v128.store (local.get $a)
                          (f32x4.add (v128.load (local.get $a))
                            (f32x4.mul (v128.load (local.get $w)) (local.get $v))))
                        (local.set $a (i32.add (local.get $a) (local.get $plane)))
                        (local.set $w (i32.add (local.get $w) (i32.const 16)))
                        (local.set $gq (i32.add (local.get $gq) (i32.const 1)))
                        (br_if $ql (i32.lt_u (local.get $gq) (global.get $group)))))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $jl)))
            (local.set $mblk (i32.add (local.get $mblk) (i32.const 32)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br $gl)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bl))))
;; ---- Packed keys stored after RoPE (or no RoPE): scored in the quantized domain ------
  ;; With no rotation per key, q . k over the channels of one group g and one KV head kh is
  ;;   sum_j q_j (s_g c_j + z_g) = s_g * sum_j q_j c_j + z_g * sum_j q_j,
  ;; so the codes are never dequantized: per block, each run (the channels of one KV head
  ;; within one group) accumulates q_j * code_j, four tokens per vector, and is then scaled
  ;; once by the group's scale, plus its zero times the run's query sum (once per step).
  ;; Host tables (fused-runs.ts; runs ordered by KV head, then group):
  ;;   ridx [k]: 4 * stored position j of the k-th channel in run order;
  ;;   runs [r]: (end k of run r, 32 * its group);  headRuns [kh]: end r of head kh's runs;
  ;;   qs [k][gq]: rotated query value of the channel for query head kh * group + gq;
  ;;   qrun [r][gq]: sum of qs over run r.
  (global $ridx (mut i32) (i32.const 0))
  (global $runs (mut i32) (i32.const 0))
  (global $headRuns (mut i32) (i32.const 0))
  (global $qs (mut i32) (i32.const 0))
  (global $qrun (mut i32) (i32.const 0))

  (func (export "configureRuns")
    (param $ridx i32) (param $runs i32) (param $headRuns i32) (param $qs i32) (param $qrun i32)
    (global.set $ridx (local.get $ridx))
    (global.set $runs (local.get $runs))
    (global.set $headRuns (local.get $headRuns))
    (global.set $qs (local.get $qs))
    (global.set $qrun (local.get $qrun)))

  ;; Blocks are taken in pairs (b, b + 1; the last block of an odd count pairs with itself
  ;; and writes its scores twice), the second decoded into tbuf2: one index load and one
  ;; query load then serve eight tokens.
  (global $tbuf2 (mut i32) (i32.const 0))
  (func (export "configureTbuf2") (param $at i32)
    (global.set $tbuf2 (local.get $at)))

  (func (export "packedKeysPost") (param $blocks i32) (result i32)
    (local $b i32) (local $b1 i32) (local $kh i32) (local $r i32) (local $r0 i32)
    (local $rEnd i32) (local $k i32) (local $kEnd i32) (local $k0 i32) (local $mblk i32)
    (local $mstep i32) (local $out i32) (local $gq i32) (local $qp i32) (local $ip i32)
    (local $qstep i32) (local $rp i32) (local $m i32) (local $t1 i32) (local $t2 i32)
    (local $a i32) (local $q v128) (local $c v128) (local $z v128)
    (local $acc0 v128) (local $acc1 v128) (local $p0 v128) (local $p1 v128)
    (global.set $flags (i64.const 0))
    (local.set $qstep (i32.shl (global.get $group) (i32.const 2)))
    (local.set $mstep (i32.shl (global.get $groups) (i32.const 5)))
    (local.set $t1 (global.get $tbuf))
    (local.set $t2 (global.get $tbuf2))
    (block $bd
      (loop $bl
        (br_if $bd (i32.ge_u (local.get $b) (local.get $blocks)))
        (local.set $b1 (i32.add (local.get $b) (i32.const 1)))
        (if (i32.ge_u (local.get $b1) (local.get $blocks)) (then (local.set $b1 (local.get $b))))
        (call $decodeBlock (local.get $b))
        (global.set $tbuf (local.get $t2))
        (call $decodeBlock (local.get $b1))
        (global.set $tbuf (local.get $t1))
        (local.set $mblk (i32.add (global.get $meta) (i32.mul (local.get $b) (local.get $mstep))))
        ;; Second block's metadata: mblk + mstep (mstep 0 when it is the same block).
        (local.set $mstep (i32.mul (i32.sub (local.get $b1) (local.get $b))
          (i32.shl (global.get $groups) (i32.const 5))))
        (local.set $out (global.get $scores))
        (local.set $kh (i32.const 0))
        (local.set $r0 (i32.const 0))
        (local.set $k0 (i32.const 0))
        (block $hd
          (loop $hl
            (br_if $hd (i32.ge_u (local.get $kh) (global.get $kvHeads)))
            (local.set $rEnd (i32.load (i32.add (global.get $headRuns) (i32.shl (local.get $kh) (i32.const 2)))))
            (local.set $gq (i32.const 0))
            (loop $ql
              (local.set $acc0 (v128.const i32x4 0 0 0 0))
              (local.set $acc1 (v128.const i32x4 0 0 0 0))
              (local.set $r (local.get $r0))
              (local.set $k (local.get $k0))
              (local.set $ip (i32.add (global.get $ridx) (i32.shl (local.get $k) (i32.const 2))))
              (local.set $qp (i32.add (global.get $qs)
                (i32.add (i32.mul (local.get $k) (local.get $qstep)) (i32.shl (local.get $gq) (i32.const 2)))))
              (block $rd
                (loop $rl
                  (br_if $rd (i32.ge_u (local.get $r) (local.get $rEnd)))
                  (local.set $rp (i32.add (global.get $runs) (i32.shl (local.get $r) (i32.const 3))))
                  (local.set $kEnd (i32.load (local.get $rp)))
                  (local.set $m (i32.add (local.get $mblk) (i32.load offset=4 (local.get $rp))))
                  (local.set $p0 (v128.const i32x4 0 0 0 0))
                  (local.set $p1 (v128.const i32x4 0 0 0 0))
                  (block $pd
                    (loop $pl
                      (br_if $pd (i32.ge_u (local.get $k) (local.get $kEnd)))
                      (local.set $a (i32.load (local.get $ip)))
                      ;; Eight codes: bytes 0..3 tokens of block b, 4..7 of block b1.
                      (local.set $c (i16x8.extend_low_i8x16_u
                        (v128.load32_lane 1 (i32.add (local.get $t2) (local.get $a))
                          (v128.load32_zero (i32.add (local.get $t1) (local.get $a))))))
                      (local.set $q (v128.load32_splat (local.get $qp)))
                      (local.set $p0 (f32x4.add (local.get $p0) (f32x4.mul (local.get $q)
                        (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $c))))))
                      (local.set $p1 (f32x4.add (local.get $p1) (f32x4.mul (local.get $q)
                        (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $c))))))
                      (local.set $qp (i32.add (local.get $qp) (local.get $qstep)))
                      (local.set $ip (i32.add (local.get $ip) (i32.const 4)))
                      (local.set $k (i32.add (local.get $k) (i32.const 1)))
                      (br $pl)))
                  (local.set $z (v128.load32_splat (i32.add (global.get $qrun)
                    (i32.shl (i32.add (i32.mul (local.get $r) (global.get $group)) (local.get $gq))
                      (i32.const 2)))))
                  (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.add
                    (f32x4.mul (v128.load (local.get $m)) (local.get $p0))
                    (f32x4.mul (v128.load offset=16 (local.get $m)) (local.get $z)))))
                  (local.set $m (i32.add (local.get $m) (local.get $mstep)))
                  (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.add
                    (f32x4.mul (v128.load (local.get $m)) (local.get $p1))
                    (f32x4.mul (v128.load offset=16 (local.get $m)) (local.get $z)))))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br $rl)))
              (local.set $a (i32.add (local.get $out)
                (i32.shl (i32.add (i32.mul (local.get $kh) (global.get $group)) (local.get $gq)) (i32.const 4))))
              (v128.store (local.get $a) (local.get $acc0))
              ;; The second block's sums: [queryHeads][4] after the first block's.
              (v128.store (i32.add (local.get $a) (i32.shl (global.get $queryHeads) (i32.const 4)))
                (local.get $acc1))
              (local.set $gq (i32.add (local.get $gq) (i32.const 1)))
              (br_if $ql (i32.lt_u (local.get $gq) (global.get $group))))
            (local.set $r0 (local.get $rEnd))
            (local.set $k0 (local.get $k))
            (local.set $kh (i32.add (local.get $kh) (i32.const 1)))
            (br $hl)))
        (call $scatterScores (local.get $b) (local.get $out))
        (call $scatterScores (local.get $b1)
          (i32.add (local.get $out) (i32.shl (global.get $queryHeads) (i32.const 4))))
        (local.set $mstep (i32.shl (global.get $groups) (i32.const 5)))
        (local.set $b (i32.add (local.get $b) (i32.const 2)))
        (br $bl)))
    (i32.wrap_i64 (i64.shr_u (global.get $flags) (i64.const 63))))

  ;; Values of blocks b and b + 1 together (the second decoded into tbuf2): one head-offset
  ;; load, one accumulator load and store per channel serve eight tokens; the two blocks'
  ;; products are added into the same four lanes (the host sums the lanes anyway).
  (func $valuesPair (param $b i32)
    (local $g i32) (local $j i32) (local $e i32) (local $gq i32) (local $m0 i32) (local $m1 i32)
    (local $w0 i32) (local $w1 i32) (local $hq i32) (local $a i32) (local $o i32) (local $plane i32)
    (local $t1 i32) (local $t2 i32) (local $c v128) (local $x0 v128) (local $x1 v128)
    (local $s0 v128) (local $z0 v128) (local $s1 v128) (local $z1 v128) (local $wstep i32)
    (local.set $plane (i32.shl (global.get $channels) (i32.const 4)))
    (local.set $t1 (global.get $tbuf))
    (local.set $t2 (global.get $tbuf2))
    (call $decodeBlock (local.get $b))
    (global.set $tbuf (local.get $t2))
    (call $decodeBlock (i32.add (local.get $b) (i32.const 1)))
    (global.set $tbuf (local.get $t1))
    (local.set $m0 (i32.add (global.get $meta)
      (i32.mul (local.get $b) (i32.shl (global.get $groups) (i32.const 5)))))
    (local.set $m1 (i32.add (local.get $m0) (i32.shl (global.get $groups) (i32.const 5))))
    (local.set $wstep (i32.shl (global.get $queryHeads) (i32.const 4)))
    (local.set $w0 (global.get $scores))
    (local.set $w1 (i32.add (local.get $w0) (local.get $wstep)))
    (call $gatherWeights (local.get $b) (local.get $w0))
    (call $gatherWeights (i32.add (local.get $b) (i32.const 1)) (local.get $w1))
    (local.set $o (global.get $offs))
    (block $gd
      (loop $gl
        (br_if $gd (i32.ge_u (local.get $g) (global.get $groups)))
        (local.set $s0 (v128.load (local.get $m0)))
        (local.set $z0 (v128.load offset=16 (local.get $m0)))
        (local.set $s1 (v128.load (local.get $m1)))
        (local.set $z1 (v128.load offset=16 (local.get $m1)))
        (local.set $j (i32.load (local.get $o)))
        (local.set $e (i32.load offset=4 (local.get $o)))
        ;; MHA: one query head per channel, no loop over the group.
        (if (i32.eq (global.get $group) (i32.const 1))
          (then
            (block $md
              (loop $ml
                (br_if $md (i32.ge_u (local.get $j) (local.get $e)))
                (local.set $a (i32.shl (local.get $j) (i32.const 2)))
                (local.set $c (i16x8.extend_low_i8x16_u
                  (v128.load32_lane 1 (i32.add (local.get $t2) (local.get $a))
                    (v128.load32_zero (i32.add (local.get $t1) (local.get $a))))))
                (local.set $hq (i32.load (i32.add (global.get $headOff) (local.get $a))))
                (local.set $a (i32.add (global.get $accS) (i32.shl (local.get $a) (i32.const 2))))
                (v128.store (local.get $a)
                  (f32x4.add (v128.load (local.get $a))
                    (f32x4.add
                      (f32x4.mul (v128.load (i32.add (local.get $w0) (local.get $hq)))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $c))) (local.get $s0)) (local.get $z0)))
                      (f32x4.mul (v128.load (i32.add (local.get $w1) (local.get $hq)))
                        (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $c))) (local.get $s1)) (local.get $z1))))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $ml)))))
        (block $jd
          (loop $jl
            (br_if $jd (i32.ge_u (local.get $j) (local.get $e)))
            (local.set $c (i16x8.extend_low_i8x16_u
              (v128.load32_lane 1 (i32.add (local.get $t2) (i32.shl (local.get $j) (i32.const 2)))
                (v128.load32_zero (i32.add (local.get $t1) (i32.shl (local.get $j) (i32.const 2)))))))
            (local.set $x0 (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $c))) (local.get $s0)) (local.get $z0)))
            (local.set $x1 (f32x4.add (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $c))) (local.get $s1)) (local.get $z1)))
            (local.set $hq (i32.load (i32.add (global.get $headOff) (i32.shl (local.get $j) (i32.const 2)))))
            (local.set $a (i32.add (global.get $accS) (i32.shl (local.get $j) (i32.const 4))))
            (local.set $gq (i32.const 0))
            (loop $ql
              (v128.store (local.get $a)
                (f32x4.add (v128.load (local.get $a))
                  (f32x4.add
                    (f32x4.mul (v128.load (i32.add (local.get $w0) (local.get $hq))) (local.get $x0))
                    (f32x4.mul (v128.load (i32.add (local.get $w1) (local.get $hq))) (local.get $x1)))))
              (local.set $a (i32.add (local.get $a) (local.get $plane)))
              (local.set $hq (i32.add (local.get $hq) (i32.const 16)))
              (local.set $gq (i32.add (local.get $gq) (i32.const 1)))
              (br_if $ql (i32.lt_u (local.get $gq) (global.get $group))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jl)))
        (local.set $m0 (i32.add (local.get $m0) (i32.const 32)))
        (local.set $m1 (i32.add (local.get $m1) (i32.const 32)))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gl))))

  ;; Values of `blocks` blocks of 4 tokens: pairs of blocks, then a last odd block alone.
  (func (export "packedValues") (param $blocks i32) (result i32)
    (local $b i32)
    (global.set $flags (i64.const 0))
    (block $pd
      (loop $pl
        (br_if $pd (i32.gt_u (i32.add (local.get $b) (i32.const 2)) (local.get $blocks)))
        (call $valuesPair (local.get $b))
        (local.set $b (i32.add (local.get $b) (i32.const 2)))
        (br $pl)))
    (call $valuesSingle (local.get $b) (local.get $blocks))
    (i32.wrap_i64 (i64.shr_u (global.get $flags) (i64.const 63))))

  ;; Scale/zero pairs of `count` tokens, raw bytes [t][group][scale, zero] at $raw (fp8: 1
  ;; byte per value, fp16: 2, fp32: 4 = $size) decoded through the f32 table at $tab (fp8,
  ;; fp16) and laid out [block][group][scale x4, zero x4] at the meta buffer.
  (func (export "metaBlocks") (param $count i32) (param $size i32) (param $raw i32) (param $tab i32)
    (local $t i32) (local $g i32) (local $dst i32) (local $rowOut i32)
    (local.set $rowOut (i32.shl (global.get $groups) (i32.const 5)))
    (block $td
      (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $count)))
        (local.set $dst (i32.add (i32.add (global.get $meta)
          (i32.mul (i32.shr_u (local.get $t) (i32.const 2)) (local.get $rowOut)))
          (i32.shl (i32.and (local.get $t) (i32.const 3)) (i32.const 2))))
        (if (i32.eq (local.get $size) (i32.const 1))
          (then
            (local.set $g (i32.const 0))
            (block $ed
              (loop $el
                (br_if $ed (i32.ge_u (local.get $g) (global.get $groups)))
                (f32.store (local.get $dst) (f32.load (i32.add (local.get $tab) (i32.shl (i32.load8_u (local.get $raw)) (i32.const 2)))))
                (f32.store offset=16 (local.get $dst) (f32.load (i32.add (local.get $tab) (i32.shl (i32.load8_u offset=1 (local.get $raw)) (i32.const 2)))))
                (local.set $raw (i32.add (local.get $raw) (i32.const 2)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $g (i32.add (local.get $g) (i32.const 1)))
                (br $el)))
          )
          (else
            (if (i32.eq (local.get $size) (i32.const 2))
              (then
            (local.set $g (i32.const 0))
            (block $hd
              (loop $hl
                (br_if $hd (i32.ge_u (local.get $g) (global.get $groups)))
                (f32.store (local.get $dst) (f32.load (i32.add (local.get $tab) (i32.shl (i32.load16_u (local.get $raw)) (i32.const 2)))))
                (f32.store offset=16 (local.get $dst) (f32.load (i32.add (local.get $tab) (i32.shl (i32.load16_u offset=2 (local.get $raw)) (i32.const 2)))))
                (local.set $raw (i32.add (local.get $raw) (i32.const 4)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $g (i32.add (local.get $g) (i32.const 1)))
                (br $hl)))
              )
              (else
            (local.set $g (i32.const 0))
            (block $fd
              (loop $fl
                (br_if $fd (i32.ge_u (local.get $g) (global.get $groups)))
                (f32.store (local.get $dst) (f32.load (local.get $raw)))
                (f32.store offset=16 (local.get $dst) (f32.load offset=4 (local.get $raw)))
                (local.set $raw (i32.add (local.get $raw) (i32.const 8)))
                (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
                (local.set $g (i32.add (local.get $g) (i32.const 1)))
                (br $fl)))
              ))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl))))
  ;; exp(x) of four float32 lanes, x <= 0 (scores minus their maximum): Cephes expf
  ;; (range reduction by ln 2 split in two, degree-6 polynomial; ~1e-7 relative). Below
  ;; -87.3 the input is clamped, giving ~1e-38 instead of a denormal or 0.
  (func $exp4 (param $x v128) (result v128)
    (local $fx v128) (local $y v128) (local $z v128)
    (local.set $x (f32x4.max (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $fx (f32x4.nearest
      (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504088896341 1.44269504088896341 1.44269504088896341 1.44269504088896341))))
    (local.set $x (f32x4.sub (f32x4.sub (local.get $x)
      (f32x4.mul (local.get $fx) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
      (f32x4.mul (local.get $fx) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $z (f32x4.mul (local.get $x) (local.get $x)))
    (local.set $y (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $y (f32x4.add (f32x4.mul (local.get $y) (local.get $x)) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $y (f32x4.add (f32x4.add (f32x4.mul (local.get $y) (local.get $z)) (local.get $x))
      (v128.const f32x4 1 1 1 1)))
    ;; y * 2^fx, 2^fx built in the exponent bits (fx >= -126 after the clamp).
    (f32x4.mul (local.get $y)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $fx)) (v128.const i32x4 127 127 127 127))
        (i32.const 23))))

  ;; Softmax numerators of [length][queryHeads] scores in place (queryHeads a multiple of
  ;; 4): e = exp(s - max_h); the float64 sums per head are written to $sums [queryHeads].
  (func (export "softmax") (param $s i32) (param $length i32) (param $max i32) (param $sums i32)
    (local $p i32) (local $h i32) (local $a i32) (local $end i32) (local $e v128) (local $o i32)
    (local $rowBytes i32)
    (local.set $rowBytes (i32.shl (global.get $queryHeads) (i32.const 2)))
    (local.set $end (i32.add (local.get $s) (i32.mul (local.get $length) (local.get $rowBytes))))
    ;; Maxima: start from the first row.
    (memory.copy (local.get $max) (local.get $s) (local.get $rowBytes))
    (memory.fill (local.get $sums) (i32.const 0) (i32.shl (local.get $rowBytes) (i32.const 1)))
    (local.set $a (local.get $s))
    (block $pd
      (loop $pl
        (br_if $pd (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $h (i32.const 0))
        (block $hd
          (loop $hl
            (br_if $hd (i32.ge_u (local.get $h) (local.get $rowBytes)))
            (local.set $o (i32.add (local.get $max) (local.get $h)))
            (v128.store (local.get $o) (f32x4.max (v128.load (local.get $o))
              (v128.load (i32.add (local.get $a) (local.get $h)))))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $hl)))
        (local.set $a (i32.add (local.get $a) (local.get $rowBytes)))
        (br $pl)))
    (local.set $a (local.get $s))
    (block $qd
      (loop $ql
        (br_if $qd (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $h (i32.const 0))
        (block $hd2
          (loop $hl2
            (br_if $hd2 (i32.ge_u (local.get $h) (local.get $rowBytes)))
            (local.set $e (call $exp4 (f32x4.sub (v128.load (i32.add (local.get $a) (local.get $h)))
              (v128.load (i32.add (local.get $max) (local.get $h))))))
            (v128.store (i32.add (local.get $a) (local.get $h)) (local.get $e))
            (local.set $o (i32.add (local.get $sums) (i32.shl (local.get $h) (i32.const 1))))
            (v128.store (local.get $o) (f64x2.add (v128.load (local.get $o))
              (f64x2.promote_low_f32x4 (local.get $e))))
            (v128.store offset=16 (local.get $o) (f64x2.add (v128.load offset=16 (local.get $o))
              (f64x2.promote_low_f32x4
                (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $hl2)))
        (local.set $a (i32.add (local.get $a) (local.get $rowBytes)))
        (br $ql))))
)
