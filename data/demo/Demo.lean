/-
  The demo file of `make demo`: `python -m prover prove` turns every `sorry` below into a proof search
  and writes Demo.proved.lean beside this file, with the proofs Lean's kernel accepted filled in.
-/

/-- A definition the statements use: it is loaded into Lean before them. -/
def double (n : Nat) : Nat := n + n

theorem double_eq (n : Nat) : double n = 2 * n := by
  sorry

theorem lt_succ_self' (n : Nat) : n < n + 1 := sorry

-- Already proved: the prover leaves it exactly as it is.
theorem one_add_one : 1 + 1 = 2 := by decide

theorem mod_two (n : Nat) : n % 2 = 0 ∨ n % 2 = 1 := by
  sorry

namespace Demo

theorem add_comm' (a b : Nat) : a + b = b + a := by sorry

/- A statement that is false: no proof can be found, and none is claimed. -/
theorem false_claim (n : Nat) : n + 1 = n := by
  sorry

end Demo
