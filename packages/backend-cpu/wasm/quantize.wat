;; Token-group quantize for @skvq/backend-cpu (WebAssembly SIMD, 128-bit): the bytes of
;; quantizeTokensReference (@skvq/formats), computed with the same float32 steps.
;; Assembled at build time by scripts/build-wasm.mjs into src/quantize-wasm-bytes.ts.
;;
;; Per token (host: src/fast-quantize.ts, which owns the memory layout):
;;   1. values in stored order: xs[j] = x[perm[j]] (skipped without a permutation);
;;   2. per group, min and max (SIMD; a zero minimum is re-scanned in the reference's order,
;;      since its sign is stored: min(+0, -0) depends on which comes first);
;;   3. scale and zero exactly as quantParams: lo = f32(a * min), hi = f32(a * max),
;;      zero = largest stored value <= lo, scale = smallest stored value >= max(f32(f32(hi -
;;      zero) / maxq), SCALE_FLOOR), the stored values found by binary search in the sorted
;;      magnitudes of the metadata format (fp8 / fp16; fp32 stores lo and the raw scale);
;;   4. codes floor(f32(clamp(f32(f32(x - zero) / scale), 0, maxq) + 0.5)), four per vector;
;;   5. packing: 8 bits copied; 4 and 2 bits by one integer multiply per lane that gathers
;;      the codes of a byte into its top byte; ternary by one i64 multiply per byte.
;; A token whose metadata falls outside the format (what quantParams / writeMeta throw for)
;; stops the call and is reported; the host lets the reference path throw its error.

(module
  (memory (export "memory") 1)

  (global $channels (mut i32) (i32.const 0))
  (global $groups (mut i32) (i32.const 0))
  ;; 8, 4, 2 or 15 (ternary).
  (global $bits (mut i32) (i32.const 0))
  (global $maxq (mut f32) (f32.const 0))
  (global $alpha (mut f32) (f32.const 1))
  ;; 4: fp32, 2: fp16, 1: fp8 (bytes per stored value).
  (global $size (mut i32) (i32.const 4))
  ;; Sorted magnitudes of the format's finite non-negative values (index = magnitude code).
  (global $tab (mut i32) (i32.const 0))
  (global $tabLen (mut i32) (i32.const 0))
  (global $metaMax (mut f32) (f32.const 0))
  (global $signBit (mut i32) (i32.const 0))
  ;; i32 [channels]: 4 * perm[j]; 0 when the layout has no permutation.
  (global $perm (mut i32) (i32.const 0))
  (global $offs (mut i32) (i32.const 0))
  (global $xs (mut i32) (i32.const 0))
  (global $q (mut i32) (i32.const 0))
  (global $rowBytes (mut i32) (i32.const 0))
  (global $metaBytes (mut i32) (i32.const 0))

  (func (export "configure")
    (param $channels i32) (param $groups i32) (param $bits i32) (param $maxq f32)
    (param $alpha f32) (param $size i32) (param $tab i32) (param $tabLen i32)
    (param $metaMax f32) (param $signBit i32) (param $perm i32) (param $offs i32)
    (param $xs i32) (param $q i32) (param $rowBytes i32) (param $metaBytes i32)
    (global.set $channels (local.get $channels))
    (global.set $groups (local.get $groups))
    (global.set $bits (local.get $bits))
    (global.set $maxq (local.get $maxq))
    (global.set $alpha (local.get $alpha))
    (global.set $size (local.get $size))
    (global.set $tab (local.get $tab))
    (global.set $tabLen (local.get $tabLen))
    (global.set $metaMax (local.get $metaMax))
    (global.set $signBit (local.get $signBit))
    (global.set $perm (local.get $perm))
    (global.set $offs (local.get $offs))
    (global.set $xs (local.get $xs))
    (global.set $q (local.get $q))
    (global.set $rowBytes (local.get $rowBytes))
    (global.set $metaBytes (local.get $metaBytes)))

  ;; 1 if any of n floats at $p is NaN or infinite (x - x is 0 exactly for finite x).
  (func (export "nonFinite") (param $p i32) (param $n i32) (result i32)
    (local $end i32) (local $bad v128) (local $d v128) (local $s f32)
    (local.set $end (i32.add (local.get $p) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vd
      (loop $vl
        (br_if $vd (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $d (f32x4.sub (v128.load (local.get $p)) (v128.load (local.get $p))))
        (local.set $bad (v128.or (local.get $bad) (f32x4.ne (local.get $d) (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $vl)))
    (local.set $end (i32.add (local.get $end) (i32.shl (i32.and (local.get $n) (i32.const 3)) (i32.const 2))))
    (block $sd
      (loop $sl
        (br_if $sd (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $s (f32.sub (f32.load (local.get $p)) (f32.load (local.get $p))))
        (if (f32.ne (local.get $s) (local.get $s)) (then (return (i32.const 1))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $sl)))
    (v128.any_true (local.get $bad)))

  ;; Largest index i with tab[i] <= m (m >= 0, m <= tab[last]).
  (func $floorIndex (param $m f32) (result i32)
    (local $lo i32) (local $hi i32) (local $mid i32)
    (local.set $hi (i32.sub (global.get $tabLen) (i32.const 1)))
    ;; Invariant: tab[lo] <= m < tab[hi + 1].
    (block $d
      (loop $l
        (br_if $d (i32.ge_u (local.get $lo) (local.get $hi)))
        (local.set $mid (i32.shr_u (i32.add (i32.add (local.get $lo) (local.get $hi)) (i32.const 1)) (i32.const 1)))
        (if (f32.le (f32.load (i32.add (global.get $tab) (i32.shl (local.get $mid) (i32.const 2)))) (local.get $m))
          (then (local.set $lo (local.get $mid)))
          (else (local.set $hi (i32.sub (local.get $mid) (i32.const 1)))))
        (br $l)))
    (local.get $lo))

  ;; Smallest index i with tab[i] >= m (0 <= m <= tab[last]).
  (func $ceilIndex (param $m f32) (result i32)
    (local $lo i32) (local $hi i32) (local $mid i32)
    (local.set $hi (i32.sub (global.get $tabLen) (i32.const 1)))
    (block $d
      (loop $l
        (br_if $d (i32.ge_u (local.get $lo) (local.get $hi)))
        (local.set $mid (i32.shr_u (i32.add (local.get $lo) (local.get $hi)) (i32.const 1)))
        (if (f32.ge (f32.load (i32.add (global.get $tab) (i32.shl (local.get $mid) (i32.const 2)))) (local.get $m))
          (then (local.set $hi (local.get $mid)))
          (else (local.set $lo (i32.add (local.get $mid) (i32.const 1)))))
        (br $l)))
    (local.get $lo))

  (func $storeMeta (param $at i32) (param $code i32) (param $v f32)
    (if (i32.eq (global.get $size) (i32.const 4))
      (then (f32.store (local.get $at) (local.get $v)) (return)))
    (if (i32.eq (global.get $size) (i32.const 2))
      (then (i32.store16 (local.get $at) (local.get $code)) (return)))
    (i32.store8 (local.get $at) (local.get $code)))

  ;; Quantizes `count` tokens of x ([count][channels] f32 at $x) into rows at $codes and
  ;; metadata at $meta. Returns count, or the index of the first token whose scale or zero
  ;; the metadata format cannot hold (nothing of that token is valid).
  (func (export "quantize") (param $x i32) (param $count i32) (param $codes i32) (param $meta i32) (result i32)
    (local $t i32) (local $src i32) (local $j i32) (local $e i32) (local $g i32) (local $o i32)
    (local $vmin v128) (local $vmax v128) (local $v v128) (local $mn f32) (local $mx f32)
    (local $f f32) (local $lo f32) (local $hi f32) (local $zero f32) (local $scale f32)
    (local $raw f32) (local $i i32) (local $zc i32) (local $sc i32) (local $m i32)
    (local $z4 v128) (local $s4 v128) (local $mq v128) (local $c v128) (local $row i32)
    (local $xs i32)
    (local.set $mq (f32x4.splat (global.get $maxq)))
    (block $td
      (loop $tl
        (br_if $td (i32.ge_u (local.get $t) (local.get $count)))
        (local.set $src (i32.add (local.get $x)
          (i32.mul (local.get $t) (i32.shl (global.get $channels) (i32.const 2)))))
        ;; 1. Stored order.
        (local.set $xs (local.get $src))
        (if (global.get $perm)
          (then
            (local.set $xs (global.get $xs))
            (local.set $j (i32.const 0))
            (local.set $e (i32.shl (global.get $channels) (i32.const 2)))
            (block $pd
              (loop $pl
                (br_if $pd (i32.ge_u (local.get $j) (local.get $e)))
                (f32.store (i32.add (local.get $xs) (local.get $j))
                  (f32.load (i32.add (local.get $src) (i32.load (i32.add (global.get $perm) (local.get $j))))))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $pl)))))
        (local.set $row (i32.add (local.get $codes) (i32.mul (local.get $t) (global.get $rowBytes))))
        (local.set $m (i32.add (local.get $meta) (i32.mul (local.get $t) (global.get $metaBytes))))
        (local.set $g (i32.const 0))
        (local.set $o (global.get $offs))
        (block $gd
          (loop $gl
            (br_if $gd (i32.ge_u (local.get $g) (global.get $groups)))
            ;; 2. Min and max of the group (byte offsets j .. e in xs).
            (local.set $j (i32.shl (i32.load (local.get $o)) (i32.const 2)))
            (local.set $e (i32.shl (i32.load offset=4 (local.get $o)) (i32.const 2)))
            (local.set $vmin (v128.load32_splat (i32.add (local.get $xs) (local.get $j))))
            (local.set $vmax (local.get $vmin))
            (block $md
              (loop $ml
                (br_if $md (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $e)))
                (local.set $v (v128.load (i32.add (local.get $xs) (local.get $j))))
                (local.set $vmin (f32x4.min (local.get $vmin) (local.get $v)))
                (local.set $vmax (f32x4.max (local.get $vmax) (local.get $v)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $ml)))
            (block $sd
              (loop $sl
                (br_if $sd (i32.ge_u (local.get $j) (local.get $e)))
                (local.set $v (v128.load32_splat (i32.add (local.get $xs) (local.get $j))))
                (local.set $vmin (f32x4.min (local.get $vmin) (local.get $v)))
                (local.set $vmax (f32x4.max (local.get $vmax) (local.get $v)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $sl)))
            (local.set $mn (f32.min
              (f32.min (f32x4.extract_lane 0 (local.get $vmin)) (f32x4.extract_lane 1 (local.get $vmin)))
              (f32.min (f32x4.extract_lane 2 (local.get $vmin)) (f32x4.extract_lane 3 (local.get $vmin)))))
            (local.set $mx (f32.max
              (f32.max (f32x4.extract_lane 0 (local.get $vmax)) (f32x4.extract_lane 1 (local.get $vmax)))
              (f32.max (f32x4.extract_lane 2 (local.get $vmax)) (f32x4.extract_lane 3 (local.get $vmax)))))
            ;; A zero minimum: the reference keeps the first of +0 / -0 it meets (v < min).
            (if (f32.eq (local.get $mn) (f32.const 0))
              (then
                (local.set $j (i32.shl (i32.load (local.get $o)) (i32.const 2)))
                (local.set $mn (f32.load (i32.add (local.get $xs) (local.get $j))))
                (block $zd
                  (loop $zl
                    (local.set $j (i32.add (local.get $j) (i32.const 4)))
                    (br_if $zd (i32.ge_u (local.get $j) (local.get $e)))
                    (local.set $f (f32.load (i32.add (local.get $xs) (local.get $j))))
                    (if (f32.lt (local.get $f) (local.get $mn)) (then (local.set $mn (local.get $f))))
                    (br $zl)))))
            ;; 3. Scale and zero (quantParams).
            (local.set $lo (f32.mul (global.get $alpha) (local.get $mn)))
            (local.set $hi (f32.mul (global.get $alpha) (local.get $mx)))
            (if (i32.eq (global.get $size) (i32.const 4))
              (then
                (local.set $zero (local.get $lo))
                (local.set $scale (f32.max
                  (f32.div (f32.sub (local.get $hi) (local.get $zero)) (global.get $maxq))
                  (f32.const 0.00001)))
                ;; An infinite scale (hi - zero overflowed) is the reference's error.
                (if (f32.eq (local.get $scale) (f32.const inf)) (then (return (local.get $t)))))
              (else
                (if (f32.gt (f32.abs (local.get $lo)) (global.get $metaMax)) (then (return (local.get $t))))
                (if (i32.shr_u (i32.reinterpret_f32 (local.get $lo)) (i32.const 31))
                  (then
                    ;; lo <= -0: the stored value below it has the next magnitude up.
                    (local.set $i (call $ceilIndex (f32.neg (local.get $lo))))
                    (local.set $zc (i32.or (global.get $signBit) (local.get $i)))
                    (local.set $zero (f32.neg (f32.load (i32.add (global.get $tab) (i32.shl (local.get $i) (i32.const 2)))))))
                  (else
                    (local.set $i (call $floorIndex (local.get $lo)))
                    (local.set $zc (local.get $i))
                    (local.set $zero (f32.load (i32.add (global.get $tab) (i32.shl (local.get $i) (i32.const 2)))))))
                (local.set $raw (f32.max
                  (f32.div (f32.sub (local.get $hi) (local.get $zero)) (global.get $maxq))
                  (f32.const 0.00001)))
                (if (f32.gt (local.get $raw) (global.get $metaMax)) (then (return (local.get $t))))
                (local.set $sc (call $ceilIndex (local.get $raw)))
                (local.set $scale (f32.load (i32.add (global.get $tab) (i32.shl (local.get $sc) (i32.const 2)))))))
            (call $storeMeta (local.get $m) (local.get $sc) (local.get $scale))
            (call $storeMeta (i32.add (local.get $m) (global.get $size)) (local.get $zc) (local.get $zero))
            (local.set $m (i32.add (local.get $m) (i32.shl (global.get $size) (i32.const 1))))
            ;; 4. Codes of the group into q (byte j / 4 for float offset j).
            (local.set $z4 (f32x4.splat (local.get $zero)))
            (local.set $s4 (f32x4.splat (local.get $scale)))
            (local.set $j (i32.shl (i32.load (local.get $o)) (i32.const 2)))
            (block $cd
              (loop $cl
                (br_if $cd (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $e)))
                (local.set $c (i32x4.trunc_sat_f32x4_s (f32x4.floor (f32x4.add
                  (f32x4.min (f32x4.max
                    (f32x4.div (f32x4.sub (v128.load (i32.add (local.get $xs) (local.get $j))) (local.get $z4)) (local.get $s4))
                    (v128.const f32x4 0 0 0 0)) (local.get $mq))
                  (v128.const f32x4 0.5 0.5 0.5 0.5)))))
                (v128.store32_lane 0 (i32.add (global.get $q) (i32.shr_u (local.get $j) (i32.const 2)))
                  (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $c) (local.get $c)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $cl)))
            (block $ed
              (loop $el
                (br_if $ed (i32.ge_u (local.get $j) (local.get $e)))
                (local.set $c (i32x4.trunc_sat_f32x4_s (f32x4.floor (f32x4.add
                  (f32x4.min (f32x4.max
                    (f32x4.div (f32x4.sub (v128.load32_splat (i32.add (local.get $xs) (local.get $j))) (local.get $z4)) (local.get $s4))
                    (v128.const f32x4 0 0 0 0)) (local.get $mq))
                  (v128.const f32x4 0.5 0.5 0.5 0.5)))))
                (i32.store8 (i32.add (global.get $q) (i32.shr_u (local.get $j) (i32.const 2)))
                  (i32x4.extract_lane 0 (local.get $c)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $el)))
            (local.set $o (i32.add (local.get $o) (i32.const 4)))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br $gl)))
        ;; 5. Pack q into the row.
        (call $pack (local.get $row))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $tl)))
    (local.get $count))

  ;; Packs the codes q[0 .. channels) (zero past the end) into rowBytes bytes at $row; may
  ;; write up to 15 bytes past the row (the next row, or the output's slack).
  (func $pack (param $row i32)
    (local $i i32) (local $src i32) (local $n i32) (local $a v128) (local $b v128)
    (local $c v128) (local $d v128)
    (local.set $src (global.get $q))
    (local.set $n (global.get $rowBytes))
    (if (i32.eq (global.get $bits) (i32.const 8))
      (then (memory.copy (local.get $row) (local.get $src) (local.get $n)) (return)))
    (if (i32.eq (global.get $bits) (i32.const 4))
      (then
        ;; 16-bit lane (c0 | c1 << 8) * (16 + 256): byte 1 = c0 + 16 c1, no carry from byte 0.
        (block $fd
          (loop $fl
            (br_if $fd (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $a (i16x8.mul (v128.load (local.get $src)) (v128.const i16x8 272 272 272 272 272 272 272 272)))
            (local.set $b (i16x8.mul (v128.load offset=16 (local.get $src)) (v128.const i16x8 272 272 272 272 272 272 272 272)))
            (v128.store (i32.add (local.get $row) (local.get $i))
              (i8x16.shuffle 1 3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 (local.get $a) (local.get $b)))
            (local.set $src (i32.add (local.get $src) (i32.const 32)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $fl)))
        (return)))
    (if (i32.eq (global.get $bits) (i32.const 2))
      (then
        ;; 32-bit lane of four codes times (64 + 16 << 8 + 4 << 16 + 1 << 24): byte 3 =
        ;; c0 + 4 c1 + 16 c2 + 64 c3; the lower bytes stay below 256, so nothing carries.
        (block $td
          (loop $tl
            (br_if $td (i32.ge_u (local.get $i) (local.get $n)))
            (local.set $a (i32x4.mul (v128.load (local.get $src)) (v128.const i32x4 0x01041040 0x01041040 0x01041040 0x01041040)))
            (local.set $b (i32x4.mul (v128.load offset=16 (local.get $src)) (v128.const i32x4 0x01041040 0x01041040 0x01041040 0x01041040)))
            (local.set $c (i32x4.mul (v128.load offset=32 (local.get $src)) (v128.const i32x4 0x01041040 0x01041040 0x01041040 0x01041040)))
            (local.set $d (i32x4.mul (v128.load offset=48 (local.get $src)) (v128.const i32x4 0x01041040 0x01041040 0x01041040 0x01041040)))
            (v128.store (i32.add (local.get $row) (local.get $i))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                (i8x16.shuffle 3 7 11 15 19 23 27 31 0 0 0 0 0 0 0 0 (local.get $a) (local.get $b))
                (i8x16.shuffle 3 7 11 15 19 23 27 31 0 0 0 0 0 0 0 0 (local.get $c) (local.get $d))))
            (local.set $src (i32.add (local.get $src) (i32.const 64)))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $tl)))
        (return)))
    ;; Ternary: five codes (low 40 bits of an i64) times sum 3^(4-k) << 8k: bits 32..39 =
    ;; c0 + 3 c1 + 9 c2 + 27 c3 + 81 c4; each lower byte stays below 256 (no carries).
    (block $xd
      (loop $xl
        (br_if $xd (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (local.get $row) (local.get $i))
          (i32.wrap_i64 (i64.shr_u
            (i64.mul (i64.and (i64.load (local.get $src)) (i64.const 0xFFFFFFFFFF))
              (i64.const 0x0103091B51))
            (i64.const 32))))
        (local.set $src (i32.add (local.get $src) (i32.const 5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $xl))))
)
