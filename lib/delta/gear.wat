;; The gear loop and the block sums of chunker.ts (GEAR_WASM there is
;; this, assembled by wabt's `wat2wasm gear.wat`, in base64). Memory: the
;; gear table at [0, 1024) (256 little-endian i32), the bytes after it.
;; find(i, end, hash, mask): for each byte at i..end-1 in order,
;; hash = (hash << 1) + table[byte]; at the first where (hash & mask) is
;; 0, sets $h to the hash and returns the byte's address + 1; else sets $h
;; and returns -1. Four bytes a turn: one word read, each byte's table
;; entry addressed from it by a shift and a mask (its index times 4).
(module
  (memory (export "mem") 1)
  (global $h (export "h") (mut i32) (i32.const 0))
  (func $find (export "find") (param $i i32) (param $end i32) (param $hash i32) (param $mask i32) (result i32)
    (local $w i32)
    (block $quad_done
      (loop $quad
        (br_if $quad_done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $w (i32.load (local.get $i)))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
          (i32.load (i32.shl (i32.and (local.get $w) (i32.const 255)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $mask)))
          (then (global.set $h (local.get $hash)) (return (i32.add (local.get $i) (i32.const 1)))))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
          (i32.load (i32.and (i32.shr_u (local.get $w) (i32.const 6)) (i32.const 1020)))))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $mask)))
          (then (global.set $h (local.get $hash)) (return (i32.add (local.get $i) (i32.const 2)))))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
          (i32.load (i32.and (i32.shr_u (local.get $w) (i32.const 14)) (i32.const 1020)))))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $mask)))
          (then (global.set $h (local.get $hash)) (return (i32.add (local.get $i) (i32.const 3)))))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
          (i32.load (i32.shl (i32.shr_u (local.get $w) (i32.const 24)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $mask)))
          (then (global.set $h (local.get $hash)) (return (i32.add (local.get $i) (i32.const 4)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quad)))
    (block $one_done
      (loop $one
        (br_if $one_done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $hash (i32.add (i32.shl (local.get $hash) (i32.const 1))
          (i32.load (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $hash) (local.get $mask)))
          (then (global.set $h (local.get $hash)) (return (i32.add (local.get $i) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (global.set $h (local.get $hash))
    (i32.const -1))
  ;; weak(p, len) -> i32: a block's rolling sum, as rsync sums it: a, the
  ;; sum of the bytes at p..p+len-1, and b, the sum of each byte times
  ;; (len - k) for byte k, both mod 2^32; a's low 16 bits, then b's. Sixteen
  ;; bytes a turn: each 16-bit lane holds an even byte (lo) and the odd
  ;; one after it (hi), multiplied by their positions and added pairwise
  ;; (i32x4.dot_i16x8_s); the lanes' sums so far are added up once more a
  ;; turn (vr), which gives each group's distance from the end; then the
  ;; bytes after the last sixteen one at a time.
  (func $weak (export "weak") (param $p i32) (param $len i32) (result i32)
    (local $end i32) (local $x v128) (local $lo v128) (local $hi v128)
    (local $vs v128) (local $vr v128) (local $vt v128)
    (local $g i32) (local $a i32) (local $r i32) (local $t i32) (local $b i32) (local $k i32)
    (local.set $end (i32.add (local.get $p) (i32.and (local.get $len) (i32.const -16))))
    (block $done
      (loop $group
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $x (v128.load (local.get $p)))
        ;; each i16 lane m: the byte at 2m (lo) and at 2m + 1 (hi)
        (local.set $lo (v128.and (local.get $x) (v128.const i16x8 255 255 255 255 255 255 255 255)))
        (local.set $hi (i16x8.shr_u (local.get $x) (i32.const 8)))
        (local.set $vr (i32x4.add (local.get $vr) (local.get $vs)))
        (local.set $vs (i32x4.add (local.get $vs)
          (i32x4.dot_i16x8_s (i16x8.add (local.get $lo) (local.get $hi)) (v128.const i16x8 1 1 1 1 1 1 1 1))))
        (local.set $vt (i32x4.add (local.get $vt)
          (i32x4.add
            (i32x4.dot_i16x8_s (local.get $lo) (v128.const i16x8 0 2 4 6 8 10 12 14))
            (i32x4.dot_i16x8_s (local.get $hi) (v128.const i16x8 1 3 5 7 9 11 13 15)))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $group)))
    (local.set $g (i32.shr_u (local.get $len) (i32.const 4)))
    (local.set $a (i32.add (i32.add (i32x4.extract_lane 0 (local.get $vs)) (i32x4.extract_lane 1 (local.get $vs)))
                           (i32.add (i32x4.extract_lane 2 (local.get $vs)) (i32x4.extract_lane 3 (local.get $vs)))))
    (local.set $r (i32.add (i32.add (i32x4.extract_lane 0 (local.get $vr)) (i32x4.extract_lane 1 (local.get $vr)))
                           (i32.add (i32x4.extract_lane 2 (local.get $vr)) (i32x4.extract_lane 3 (local.get $vr)))))
    (local.set $t (i32.add (i32.add (i32x4.extract_lane 0 (local.get $vt)) (i32x4.extract_lane 1 (local.get $vt)))
                           (i32.add (i32x4.extract_lane 2 (local.get $vt)) (i32x4.extract_lane 3 (local.get $vt)))))
    ;; b = len * a - (16 * ((g - 1) * a - r) + t), for the grouped bytes
    (local.set $b (i32.sub (i32.mul (local.get $len) (local.get $a))
      (i32.add (i32.shl (i32.sub (i32.mul (i32.sub (local.get $g) (i32.const 1)) (local.get $a)) (local.get $r)) (i32.const 4))
               (local.get $t))))
    (local.set $k (i32.shl (local.get $g) (i32.const 4)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $k) (local.get $len)))
        (local.set $t (i32.load8_u (local.get $p)))
        (local.set $a (i32.add (local.get $a) (local.get $t)))
        (local.set $b (i32.add (local.get $b) (i32.mul (i32.sub (local.get $len) (local.get $k)) (local.get $t))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $tail)))
    (i32.or (i32.and (local.get $a) (i32.const 0xffff)) (i32.shl (local.get $b) (i32.const 16))))
  ;; roll(p, last, block, sum, filter, fshift, slots, smask, sshift) -> i32:
  ;; the rolling loop of a sender's search for an old copy's blocks (see
  ;; matcher.ts): from the window of `block` bytes at p (its weak sum in
  ;; `sum`) on, the first whose sum passes both bits of the filter (bits
  ;; of the i32 words at `filter`, indexed by the sum times 0x9E3779B1
  ;; and times 0x85EBCA77, each shifted right by fshift) and is the sum of
  ;; a slot (pairs of i32 at `slots`, block index + 1 then sum, probed
  ;; from the sum times 0x9E3779B1 shifted right by sshift, on to the
  ;; first empty one): its address, the sum in $h; else -1 - the last
  ;; window's address (its sum in $h) once p reaches `last`.
  (func $roll (export "roll")
    (param $p i32) (param $last i32) (param $block i32) (param $sum i32)
    (param $filter i32) (param $fshift i32) (param $slots i32)
    (param $smask i32) (param $sshift i32) (result i32)
    (local $f i32) (local $s i32) (local $slot i32) (local $out i32)
    (local $a i32) (local $b i32)
    ;; a and b whole (mod 2^32, each step a short chain); the sum is their
    ;; low halves.
    (local.set $a (i32.and (local.get $sum) (i32.const 0xffff)))
    (local.set $b (i32.shr_u (local.get $sum) (i32.const 16)))
    (loop $next
      (local.set $sum (i32.or (i32.and (local.get $a) (i32.const 0xffff))
        (i32.shl (local.get $b) (i32.const 16))))
      (local.set $f (i32.shr_u (i32.mul (local.get $sum) (i32.const -1640531535))
        (local.get $fshift)))
      (if (i32.and
            (i32.load (i32.add (local.get $filter)
              (i32.shl (i32.shr_u (local.get $f) (i32.const 5)) (i32.const 2))))
            (i32.shl (i32.const 1) (local.get $f)))
        (then
          (local.set $f (i32.shr_u (i32.mul (local.get $sum) (i32.const -2048144777))
            (local.get $fshift)))
          (if (i32.and
                (i32.load (i32.add (local.get $filter)
                  (i32.shl (i32.shr_u (local.get $f) (i32.const 5)) (i32.const 2))))
                (i32.shl (i32.const 1) (local.get $f)))
            (then
              (local.set $s (i32.shr_u (i32.mul (local.get $sum) (i32.const -1640531535))
                (local.get $sshift)))
              (block $miss
                (loop $probe
                  (local.set $slot (i32.add (local.get $slots)
                    (i32.shl (local.get $s) (i32.const 3))))
                  (br_if $miss (i32.eqz (i32.load (local.get $slot))))
                  (if (i32.eq (i32.load offset=4 (local.get $slot)) (local.get $sum))
                    (then
                      (global.set $h (local.get $sum))
                      (return (local.get $p))))
                  (local.set $s (i32.and (i32.add (local.get $s) (i32.const 1))
                    (local.get $smask)))
                  (br $probe)))))))
      (if (i32.ge_u (local.get $p) (local.get $last))
        (then
          (global.set $h (local.get $sum))
          (return (i32.sub (i32.const -1) (local.get $p)))))
      ;; rsync's roll: the byte at p leaves, the one at p + block comes.
      (local.set $out (i32.load8_u (local.get $p)))
      (local.set $a (i32.add (local.get $a)
        (i32.sub (i32.load8_u (i32.add (local.get $p) (local.get $block)))
          (local.get $out))))
      (local.set $b (i32.add (local.get $b)
        (i32.sub (local.get $a) (i32.mul (local.get $block) (local.get $out)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $next))
    (unreachable)))
