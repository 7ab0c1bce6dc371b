;; The gear loop of chunker.ts (GEAR_WASM there is this, assembled by
;; wabt's `wat2wasm gear.wat`, in base64). Memory: the gear table at
;; [0, 1024) (256 little-endian i32), the bytes to scan after it.
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
    (i32.const -1)))
