import Lean
/-!
# LeanServer: a proof-state server speaking JSON lines

One request per line on stdin, one answer per line on stdout, prefixed with `@@LS@@ KEY ` (`answerTag`) where KEY is the
first line the client sends (the embedded Lean also prints its own diagnostics on stdout, and code run
during elaboration could print there too; it cannot know KEY). The server keeps one base environment loaded and answers:

* `start {statement}`      -> a proof state id and its goals;
* `tactic {state, tactic}` -> a new state id and goals, `complete`, or an error; any earlier state may be used;
* `check {code, statement?, name?, trusted?}` -> per declaration: messages, complete, sound and, when not
  sound, `unsound_reason` (see "The judge" below; `trusted` only turns the syntax filter off);
* `add {code}`             -> trusted declarations (a prelude) added to the base environment;
* `stats`, `clear`.

The wire format is mirrored, one class per message, by `prover/lean/protocol.py`; tests/golden/*.txt are
transcripts of every command and error. The constants both sides share and the closed set of commands
(`WireCmd`) are generated from that module into the WIRE block below (`python scripts/lean_wire.py --write`;
the client also regenerates the block in the source it runs, so the running server always matches it).

Invariant: a request never changes the base environment except `add`, and a failing request leaves every
stored proof state as it was. Errors are answers, never crashes.

The embedded (WebAssembly) Lean loads only the exported part of each .olean, so newly compiled code cannot
call library functions whose compiled form is a reduced-arity (`_redArg`) or private helper. Hence the
monad runners below are written by hand, lists are walked with our own recursive helpers, and names are
printed by `nameStr`. Keep it that way when editing: monomorphic library entry points only.
-/
open Lean Elab Meta Command Parser

namespace LeanServer

-- BEGIN WIRE (generated from prover/lean/protocol.py: `python scripts/lean_wire.py --write`)
def answerTag : String := "@@LS@@"
def defaultHeartbeats : Nat := 20000
def defaultMaxRecDepth : Nat := 512

/-- The commands, a closed set: `handle` matches on it exhaustively. -/
inductive WireCmd where
  | start
  | tactic
  | check
  | add
  | trace
  | stats
  | clear

def WireCmd.ofName? (s : String) : Option WireCmd :=
  if s == "start" then some .start
  else if s == "tactic" then some .tactic
  else if s == "check" then some .check
  else if s == "add" then some .add
  else if s == "trace" then some .trace
  else if s == "stats" then some .stats
  else if s == "clear" then some .clear
  else none
-- END WIRE

/-! ## Small helpers that avoid polymorphic library code -/

def nameStr : Name → String
  | .anonymous => ""
  | .str .anonymous s => s
  | .str p s => nameStr p ++ "." ++ s
  | .num .anonymous n => toString n
  | .num p n => nameStr p ++ "." ++ toString n

def jsonArr (xs : List Json) : Json := Id.run do
  let mut a : Array Json := #[]
  for x in xs do a := a.push x
  return Json.arr a

def strListJson (xs : List String) : Json := Id.run do
  let mut a : Array Json := #[]
  for x in xs do a := a.push (Json.str x)
  return Json.arr a

def listLen {α : Type} : List α → Nat
  | [] => 0
  | _ :: t => listLen t + 1

def listRev {α : Type} (xs : List α) : List α := Id.run do
  let mut r : List α := []
  for x in xs do r := x :: r
  return r

/-- Array to list by index recursion (`Array.toList`, ranges and array `for` loops are not callable here). -/
def arrToList {α : Type} (xs : Array α) : List α :=
  let rec go (i : Nat) (acc : List α) : List α :=
    match i with
    | 0 => acc
    | k + 1 => if h : k < xs.size then go k (xs[k] :: acc) else go k acc
  go xs.size []

def strContains (s sub : String) : Bool := listLen (s.splitOn sub) > 1

def joinLines : List String → String
  | [] => ""
  | [x] => x
  | x :: xs => x ++ "\n" ++ joinLines xs

def optStr : Except String String → Option String
  | .ok s => some s
  | .error _ => none

/-- The name without a leading `_root_` qualifier (`_root_.IO.FS.writeFile` names `IO.FS.writeFile`). -/
def dropRoot : Name → Name
  | .anonymous => .anonymous
  | .str .anonymous s => if s == "_root_" then .anonymous else Name.mkStr .anonymous s
  | .str p s => Name.mkStr (dropRoot p) s
  | .num p k => Name.mkNum (dropRoot p) k

def hasRoot : Name → Bool
  | .anonymous => false
  | .str .anonymous s => s == "_root_"
  | .str p _ => hasRoot p
  | .num p _ => hasRoot p

/-- The name without its first component (`A.B.C` -> `B.C`). -/
def dropFirst : Name → Name
  | .anonymous => .anonymous
  | .str .anonymous _ => .anonymous
  | .num .anonymous _ => .anonymous
  | .str p s => Name.mkStr (dropFirst p) s
  | .num p k => Name.mkNum (dropFirst p) k

/-- The name a user wrote: without the `_private.<module>.0.` prefix of private declarations. -/
def userName (n : Name) : Name := (privateToUserName? n).getD n

/-- Monomorphic reference helpers (`IO.mkRef` and friends are not callable here). -/
def newRef {α : Type} (a : α) : BaseIO (IO.Ref α) := ST.Prim.mkRef a
def readRef {α : Type} (r : IO.Ref α) : BaseIO α := ST.Prim.Ref.get r
def writeRef {α : Type} (r : IO.Ref α) (a : α) : BaseIO Unit := ST.Prim.Ref.set r a

/-! ## Running the elaboration monads by hand (their `run` helpers are not callable here) -/

def runCore {α : Type} (x : CoreM α) (ctx : Core.Context) (s : Core.State) :
    IO (Except Exception (α × Core.State)) := do
  let ref ← newRef s
  let r ← (x ctx ref).toBaseIO
  let s' ← readRef ref
  match r with
  | .ok a => return .ok (a, s')
  | .error e => return .error e

def runMeta {α : Type} (x : MetaM α) (s : Meta.State) : CoreM (α × Meta.State) := do
  let ref ← newRef s
  let a ← x {} ref
  return (a, ← readRef ref)

def runTerm {α : Type} (x : TermElabM α) (levelNames : List Name := []) : MetaM α := do
  let ref ← newRef ({ levelNames := levelNames } : Term.State)
  x { errToSorry := false, declName? := some `_leanServer } ref

/-- Per-request limits. `heartbeats` is in thousands, like Lean's `maxHeartbeats` option. -/
structure Limits where
  heartbeats : Nat := defaultHeartbeats
  maxRecDepth : Nat := defaultMaxRecDepth

/-- A proof state. Invariant: `goals` are the unassigned goals of `metaSt.mctx`, main goal first;
`root` is the metavariable of the original statement, so instantiating it gives the proof so far. -/
structure ProofState where
  core : Core.State
  metaSt : Meta.State
  goals : List MVarId
  root : MVarId

structure Server where
  env : IO.Ref Environment
  /-- The environment of the imports alone, before any `add`. -/
  pristine : Environment
  opts : Options
  /-- `states[i]` is proof state `offset + i`; `clear` drops them all and moves the offset, so ids stay unique. -/
  states : IO.Ref (Array ProofState)
  offset : IO.Ref Nat
  requests : IO.Ref Nat
  started : Nat

def coreCtx (srv : Server) (lim : Limits) : IO Core.Context := do
  let hb ← IO.getNumHeartbeats
  return { fileName := "<leanserver>", fileMap := FileMap.ofString "", options := srv.opts,
           maxHeartbeats := lim.heartbeats * 1000, initHeartbeats := hb, maxRecDepth := lim.maxRecDepth,
           currNamespace := Name.anonymous, openDecls := [] }

def exceptionText (e : Exception) : IO String := do
  match e with
  | .error _ msg => msg.toString
  | .internal id _ => return "internal exception #" ++ toString id.idx

/-- Run a MetaM action from a given core and meta state; errors become strings. -/
def runAt {α : Type} (srv : Server) (lim : Limits) (cs : Core.State) (ms : Meta.State) (x : MetaM α) :
    IO (Except String (α × Core.State × Meta.State)) := do
  let ctx ← coreCtx srv lim
  try
    match ← runCore (runMeta x ms) ctx { cs with messages := {} } with
    | .ok ((a, ms'), cs') => return .ok (a, cs', ms')
    | .error e => return .error (← exceptionText e)
  catch e => return .error (toString e)

/-! ## Untrusted input: a syntax-level filter

Model output must not run code on the host, add axioms, or weaken the check. We walk the parsed syntax and
reject commands and tactics that run code at elaboration time, declare axioms or unsafe code, change how
code is compiled, or change options; and identifiers that reach `IO` or the elaborator. The kernel-side
audit in `check` (no `sorryAx`, no `Lean.ofReduceBool`, no new axioms) backs this up. -/

def deniedAtoms : List String :=
  ["#eval", "#eval!", "#exit", "#guard", "#guard_msgs", "#print", "#reduce", "#synth", "#check_failure",
   "#find", "#help", "#where", "#version", "#conv", "#simp", "#norm_num", "#discr_tree_key",
   "run_cmd", "run_elab", "run_meta", "run_tac", "by_elab", "elab", "elab_rules", "macro", "macro_rules",
   "syntax", "declare_syntax_cat", "notation", "infix", "infixl", "infixr", "prefix", "postfix",
   "axiom", "unsafe", "opaque", "initialize", "builtin_initialize", "native_decide", "sorry", "admit", "stop",
   "implemented_by", "extern", "export", "import", "declare_simp_like_tactic", "register_option",
   "register_simp_attr", "add_decl_doc", "dsimproc", "simproc", "builtin_simproc", "grind_pattern",
   "register_tactic_tag", "open private",
   -- reads a host file at elaboration time (the sandbox stops it too; this is the cheap first layer)
   "include_str"]

def allowedAttrs : List String :=
  ["simp", "reducible", "irreducible", "semireducible", "inline", "noinline", "instance", "local",
   "scoped", "grind", "ext", "symm", "refl", "trans", "match_pattern", "elab_as_elim", "induction_eliminator",
   "cases_eliminator", "congr", "specialize", "nospecialize", "default_instance", "norm_cast", "simp←",
   "grind=", "grind→", "grind←"]

def allowedOptionPrefixes : List String := ["maxRecDepth", "pp.", "linter."]

/-- Identifier prefixes that reach IO, unsafe casts, the elaborator or the compiler. -/
def deniedIdentPrefixes : List String :=
  ["IO", "EIO", "BaseIO", "ST", "EST", "System", "unsafe", "Lean.Elab", "Lean.Meta", "Lean.Compiler",
   "Lean.Environment", "Lean.Core", "Lean.IR", "ptrAddrUnsafe", "sorryAx", "Lean.ofReduceBool",
   "Lean.ofReduceNat", "Lean.trustCompiler", "Lean.Parser", "Lean.Kernel", "Lean.Server", "Lean.Json",
   "Lean.Syntax", "Lean.MVarId", "Lean.Expr", "Lean.Name", "Lean.Tactic", "Lean.Macro", "Lean.Language",
   "Lean.Options", "Lean.KVMap", "Task", "Thunk.get", "dbgTrace", "dbg_trace", "panic", "unsafeCast",
   "unsafeBaseIO", "unsafeIO", "unsafeEIO", "implemented_by", "Lean.addDecl", "Lean.addAndCompile",
   "Lean.withOptions", "Lean.setEnv", "Lean.modifyEnv", "Lean.Declaration", "Lean.KVMap", "Lean.Core"]

def memStr (x : String) : List String → Bool
  | [] => false
  | y :: ys => x == y || memStr x ys

def anyPrefix (x : String) : List String → Bool
  | [] => false
  | p :: ps => x.startsWith p || anyPrefix x ps

def identDenied (s : String) : Bool := Id.run do
  -- `decide +native` names the option as a bare identifier; its proof hides `Lean.ofReduceBool` in an
  -- auxiliary lemma, so refuse the option itself (the kernel audit of `check` would catch it too)
  if s == "native" then return true
  for p in deniedIdentPrefixes do
    if s == p || s.startsWith (p ++ ".") then return true
  -- any component that starts with `unsafe` (e.g. `Foo.unsafeRun`)
  for c in s.splitOn "." do
    if c.startsWith "unsafe" then return true
  return false

/-- The first token of a syntax tree, as text. -/
partial def firstToken : Syntax → Option String
  | .atom _ v => some v
  | .ident _ _ n _ => some (nameStr n)
  | .node _ _ args => Id.run do
      for a in arrToList args do
        match firstToken a with
        | some t => return some t
        | none => pure ()
      return none
  | .missing => none

/-- Why this syntax is not allowed from an untrusted source, if it is not. -/
partial def denyReason : Syntax → Option String
  | .atom _ v =>
    if memStr v deniedAtoms then some ("`" ++ v ++ "` is not allowed in untrusted input")
    -- `#[1, 2]` is an array literal, not a `#`-command
    else if v.startsWith "#" && v != "#[" then some ("`" ++ v ++ "` is not allowed in untrusted input")
    else none
  | .ident _ _ n _ =>
    let s := nameStr (dropRoot n)
    if identDenied s then some ("identifier `" ++ s ++ "` is not allowed in untrusted input")
    else none
  | .missing => none
  | stx@(.node _ kind args) => Id.run do
    if kind == ``Lean.Parser.Term.attrInstance then
      let attr := (firstToken (stx.getArg 1)).getD ""
      if !memStr attr allowedAttrs then
        return some ("attribute `" ++ attr ++ "` is not allowed in untrusted input")
    if kind == ``Lean.Parser.Command.set_option || kind == ``Lean.Parser.Tactic.set_option
        || kind == ``Lean.Parser.Term.set_option then
      let opt := (firstToken (stx.getArg 1)).getD ""
      if !anyPrefix opt allowedOptionPrefixes then
        return some ("`set_option " ++ opt ++ "` is not allowed in untrusted input")
    for a in arrToList args do
      match denyReason a with
      | some r => return some r
      | none => pure ()
    return none

/-! ## Statements -/

/-- Count the variables bound by a bracketed binder: `(x y : T)` binds two, `[Inst]` one. -/
def binderCount (b : Syntax) : Nat :=
  if b.getKind == ``Lean.Parser.Term.instBinder then 1
  else if b.getNumArgs > 1 then b[1].getNumArgs else 1

/-- Find a `declSig` or `optDeclSig` node. -/
partial def findSig : Syntax → Option Syntax
  | stx@(.node _ kind args) =>
    if kind == ``Lean.Parser.Command.declSig || kind == ``Lean.Parser.Command.optDeclSig then some stx
    else Id.run do
      for a in arrToList args do
        match findSig a with
        | some s => return some s
        | none => pure ()
      return none
  | _ => none

def countBinders : List Syntax → Nat
  | [] => 0
  | b :: bs => binderCount b + countBinders bs

/-- The proposition a signature states, `∀ binders, type`, from a `declSig` or `optDeclSig` node (none if it
has no type), and how many binders it has. -/
def sigStatement (sig : Syntax) : Option (Syntax × Nat) :=
  let binders := sig[0].getArgs
  let ty? : Option Syntax := if sig.getKind == ``Lean.Parser.Command.declSig then some sig[1][1]
    else if sig[1].getNumArgs > 0 then some sig[1][0][1] else none
  match ty? with
  | none => none
  | some ty =>
    if binders.size == 0 then some (ty, 0)
    else some (Syntax.node SourceInfo.none ``Lean.Parser.Term.forall
      #[Syntax.atom SourceInfo.none "∀", Syntax.node SourceInfo.none nullKind binders,
        Syntax.node SourceInfo.none nullKind #[], Syntax.atom SourceInfo.none ",", ty],
      countBinders (arrToList binders))

/-- Parse a statement: `theorem name binders : type` (an optional `:= ...` is ignored) or a bare
proposition. The caller strips any `:= proof` first. Returns the proposition as `∀ binders, type` and how many
binders to introduce. -/
def parseStatement (env : Environment) (text : String) : Except String (Syntax × Nat) := do
  let t := text
  let isDecl := t.startsWith "theorem " || t.startsWith "example"
  if !isDecl then
    let stx ← runParserCategory env `term t "<statement>"
    return (stx, 0)
  let src := t ++ " := sorry"
  let stx ← runParserCategory env `command src "<statement>"
  let some sig := findSig stx | throw "statement has no signature"
  match sigStatement sig with
  | some r => return r
  | none => throw "statement has no type"

/-- Elaborate a statement to a closed proposition (`levelNames`: the universe variables in scope). -/
def elabStatement (stx : Syntax) (levelNames : List Name := []) : MetaM Expr := runTerm (levelNames := levelNames) do
  let ty ← Term.elabType stx
  Term.synthesizeSyntheticMVarsNoPostponing
  let ty ← instantiateMVars ty
  if ty.hasMVar then throwError "statement has unresolved placeholders"
  return ty

def ppGoals (gs : List MVarId) : MetaM (List String) := do
  let mut out : List String := []
  for g in gs do
    out := toString (← Meta.ppGoal g) :: out
  return listRev out

/-! ## Requests -/

abbrev Answer := List (String × Json)
def ok (fields : Answer) : Answer := ("ok", Json.bool true) :: fields
def err (msg : String) : Answer := [("ok", Json.bool false), ("error", Json.str msg)]

def getStr (j : Json) (k : String) : Option String :=
  match j.getObjValAs? String k with | .ok v => some v | .error _ => none
def getNat (j : Json) (k : String) : Option Nat :=
  match j.getObjValAs? Nat k with | .ok v => some v | .error _ => none
def getBool (j : Json) (k : String) : Option Bool :=
  match j.getObjValAs? Bool k with | .ok v => some v | .error _ => none
def num (n : Nat) : Json := toJson n

def limitsOf (j : Json) : Limits :=
  { heartbeats := (getNat j "heartbeats").getD defaultHeartbeats,
    maxRecDepth := (getNat j "max_rec_depth").getD defaultMaxRecDepth }

def storeState (srv : Server) (ps : ProofState) : IO Nat := do
  let arr ← readRef srv.states
  writeRef srv.states (arr.push ps)
  return (← readRef srv.offset) + arr.size

def goalsJson (ids : Nat) (goals : List String) : List (String × Json) :=
  [("state", num ids), ("goals", strListJson goals), ("complete", Json.bool (listLen goals == 0))]

def handleStart (srv : Server) (j : Json) : IO Answer := do
  let some text := getStr j "statement" | return err "start: missing string field `statement`"
  let env ← readRef srv.env
  match parseStatement env text with
  | .error e => return err ("parse error: " ++ e)
  | .ok (stx, n) =>
    if let some r := denyReason stx then return err r
    let lim := limitsOf j
    let act : MetaM (List MVarId × MVarId × List String) := do
      let ty ← elabStatement stx
      let mv ← mkFreshExprMVar ty (kind := .syntheticOpaque)
      let (_, g) ← mv.mvarId!.introNP n
      return ([g], mv.mvarId!, ← ppGoals [g])
    match ← runAt srv lim { env := env } {} act with
    | .error e => return err e
    | .ok ((goals, root, pp), cs, ms) =>
      let id ← storeState srv { core := cs, metaSt := ms, goals := goals, root := root }
      return ok (goalsJson id pp)

def runTacticOn (goals : List MVarId) (tac : Syntax) : TermElabM (List MVarId) := do
  let ref ← newRef ({ goals := goals } : Tactic.State)
  let x : Tactic.TacticM Unit := do
    Tactic.evalTactic tac
    Term.synthesizeSyntheticMVarsNoPostponing
  let y : Tactic.TacticM (List MVarId) := do x; Tactic.getUnsolvedGoals
  y { elaborator := .anonymous, recover := false } ref

/-- A tactic, or a sequence such as `intro x; simp` or several lines (parsed as `(seq)`). Lines of a
sequence line up at one column: written from column 0 (`constructor\nexact hp`), the sequence opens on a line
of its own so that its first tactic is at column 0 too. The error reported is the plain parse's. -/
def parseTactic (env : Environment) (text : String) : Except String Syntax :=
  match runParserCategory env `tactic text "<tactic>" with
  | .ok stx => .ok stx
  | .error e =>
    match runParserCategory env `tactic ("(" ++ text ++ "\n)") "<tactic>" with
    | .ok stx => .ok stx
    | .error _ =>
      match runParserCategory env `tactic ("(\n" ++ text ++ "\n)") "<tactic>" with
      | .ok stx => .ok stx
      | .error _ => .error e

def handleTactic (srv : Server) (j : Json) : IO Answer := do
  let some sid := getNat j "state" | return err "tactic: missing natural-number field `state`"
  let some tacText := getStr j "tactic" | return err "tactic: missing string field `tactic`"
  let arr ← readRef srv.states
  let off ← readRef srv.offset
  let some ps := (if h : off ≤ sid ∧ sid - off < arr.size then some arr[sid - off] else none)
    | return err ("unknown proof state " ++ toString sid)
  if listLen ps.goals == 0 then return err ("proof state " ++ toString sid ++ " has no goals left")
  match parseTactic ps.core.env tacText with
  | .error e => return err ("parse error: " ++ e)
  | .ok tac =>
    if let some r := denyReason tac then return err r
    let act : MetaM (List MVarId × List String × Bool × Bool) := do
      let gs ← runTerm (runTacticOn ps.goals tac)
      let pf ← instantiateMVars (mkMVar ps.root)
      let usesNative := (pf.find? fun e => e.isConstOf ``Lean.ofReduceBool || e.isConstOf ``Lean.ofReduceNat
        || e.isConstOf ``Lean.trustCompiler).isSome
      return (gs, ← ppGoals gs, pf.hasSorry, usesNative)
    match ← runAt srv (limitsOf j) ps.core ps.metaSt act with
    | .error e => return err e
    | .ok ((gs, pp, usesSorry, usesNative), cs, ms) =>
      if cs.messages.hasErrors then
        let mut texts : List String := []
        for m in cs.messages.toList do
          if m.severity == .error then texts := (← m.data.toString) :: texts
        return err (joinLines (listRev texts))
      if usesSorry then return err "the tactic closed a goal with `sorry`"
      if usesNative then return err "the tactic relies on compiled-code evaluation (`Lean.ofReduceBool`)"
      let id ← storeState srv { core := cs, metaSt := ms, goals := gs, root := ps.root }
      -- infos and warnings (e.g. `exact?`'s "Try this") go back with the state
      let mut infos : List String := []
      for m in cs.messages.toList do infos := (← m.data.toString) :: infos
      return ok (("messages", strListJson (listRev infos)) :: goalsJson id pp)

/-- Parse all commands of a source text. A terminal command other than the end of input (`#exit`, an
`import` after the header) is kept, last, so that the judge refuses it instead of checking stopping early. -/
partial def parseCommands (env : Environment) (opts : Options) (inputCtx : InputContext)
    (pst : ModuleParserState) (acc : List Syntax) : List Syntax × MessageLog :=
  let (stx, pst', msgs) := Parser.parseCommand inputCtx { env := env, options := opts } pst {}
  if stx.getKind == ``Lean.Parser.Command.eoi then (listRev acc, msgs)
  else if Parser.isTerminalCommand stx then (listRev (stx :: acc), msgs)
  else if msgs.hasErrors then (listRev (stx :: acc), msgs)
  else parseCommands env opts inputCtx pst' (stx :: acc)

def msgJson (_fm : FileMap) (m : Message) : IO Json := do
  let sev := match m.severity with | .error => "error" | .warning => "warning" | .information => "info"
  let pos := m.pos
  return Json.mkObj [("severity", Json.str sev), ("line", num pos.line), ("column", num pos.column),
    ("text", Json.str (← m.data.toString))]

/-- The declared name of a command, if it declares one (without the current namespace). -/
partial def declName? (stx : Syntax) : Option Name := Id.run do
  if stx.getKind == ``Lean.Parser.Command.declId then return some stx[0].getId
  match stx with
  | .node _ _ args =>
    for a in arrToList args do
      match declName? a with
      | some n => return some n
      | none => pure ()
    return none
  | _ => return none

/-- The constant a command declared. The server file is elaborated as a module, where new declarations
are private by default and live under `_private.<module>.0.<name>`. -/
def findDecl (env : Environment) (n : Name) : Option (Name × ConstantInfo) :=
  match env.find? n with
  | some ci => some (n, ci)
  | none =>
    let p := Name.mkNum (Name.mkSimple "_private" ++ env.mainModule) 0 ++ n  -- `mkPrivateName`, by hand
    match env.find? p with
    | some ci => some (p, ci)
    | none => none

def scopeNs : List Scope → Name
  | [] => Name.anonymous
  | sc :: _ => sc.currNamespace

def scopeOpens : List Scope → List OpenDecl
  | [] => []
  | sc :: _ => sc.openDecls

def scopeLevels : List Scope → List Name
  | [] => []
  | sc :: _ => sc.levelNames

/-! ## The judge

What a `check` reports as sound rests on the kernel and on the pristine environment, never on the elaborator
that ran the untrusted text (code in that text may have run at elaboration time, changed options, or added
declarations by hand):

* **Every command accounted for.** Only these command kinds are elaborated: declarations, `mutual`,
  `namespace`/`section`/`end`, `open`, `variable`, `universe`, `include`/`omit`, `set_option`, `attribute`,
  `deriving instance`, module doc comments, and `A in B` (audited as `section A B end`). Anything else,
  `#exit` and an `import` after the header included, is refused with its reason, and the file fails.
  An `example` is elaborated as a definition with a fresh name, so it is audited like the rest and reported
  as `example@LINE`. Names carry their namespace.
* **Replay.** Every constant the text added (the constants of the final environment that the base
  environment lacks, and those any audited declaration refers to) is re-checked by the kernel in a fresh
  environment made from the base environment alone (imports and trusted preludes), dependencies first, from
  the declarations' types and values (as lean4checker does). A declaration the kernel rejects there is
  unsound, and so is everything that depends on it.
* **Allowed declarations.** A proof may bring theorems, definitions (`def`, `abbrev`, `instance`, and what
  the elaborator derives from them: `match_N`, `proof_N`, `_unfold`, `eq_N`, `_sunfold`, ... helpers) and
  inductive types and structures (replayed as inductive declarations; their constructors and recursors must
  come out of the kernel identical). Refused, each with a named reason: axioms, `opaque` constants (so
  `partial def` too), quotient primitives, `unsafe` declarations (except the compiler's own
  `_unsafe_rec` copies, which no checked declaration can refer to), definitions with `@[implemented_by]`.
  Any use of `Lean.reduceBool`, `Lean.reduceNat`, `Lean.ofReduceBool`, `Lean.ofReduceNat` or
  `Lean.trustCompiler`, or of an axiom other than `propext`, `Classical.choice` and `Quot.sound`, in an added
  constant's type or value makes it unsound; `sorryAx` makes it incomplete. Both pass to its dependents.
  Imported and prelude constants are trusted as they are (their bodies are not re-checked).
* **Meaning pinned.** A theorem's (or typed example's) statement, its binders and type, is elaborated again
  in the pristine environment (base only, with the command's namespace and `open`s, nothing else from the
  file: no local instances, notation, `variable`s, default instances or shadowing names), and the checked
  declaration's type must equal it. A statement that does not elaborate there, because it names the file's
  own definitions, is elaborated in the base environment plus the constants the replay accepted (without the
  file's instances, attributes or notation), must give the declaration's type, and none of the file's
  constants it uses may shadow a base name (`Foo.Nat` where `Nat` exists). With a reference statement, the
  declaration it names is compared with the reference instead.
-/

def auditableKinds : List Name :=
  [`Lean.Parser.Command.declaration, `Lean.Parser.Command.mutual, `Lean.Parser.Command.namespace,
   `Lean.Parser.Command.section, `Lean.Parser.Command.end, `Lean.Parser.Command.open,
   `Lean.Parser.Command.variable, `Lean.Parser.Command.universe, `Lean.Parser.Command.include,
   `Lean.Parser.Command.omit, `Lean.Parser.Command.set_option, `Lean.Parser.Command.attribute,
   `Lean.Parser.Command.deriving, `Lean.Parser.Command.moduleDoc, `Lean.Parser.Command.noncomputableSection,
   `Lean.Parser.Command.in]

def memName (x : Name) : List Name → Bool
  | [] => false
  | y :: ys => x == y || memName x ys

/-- Why the judge cannot audit this command, if it cannot. -/
def unauditable (cmd : Syntax) : Option String :=
  let k := cmd.getKind
  if k == `Lean.Parser.Command.exit then
    some "`#exit` would end checking early; the judge checks whole files only"
  else if k == `Lean.Parser.Command.import then
    some "`import` after the first command: imports belong at the start of the file"
  else if memName k auditableKinds then none
  else some ("command `" ++ nameStr k ++ "` cannot be audited by the judge")

def appendL {α : Type} : List α → List α → List α
  | [], ys => ys
  | x :: xs, ys => x :: appendL xs ys

/-- `A in B` is `section A B end`; expand it so that every inner command is audited in its own scope. -/
partial def expandIn (sec fin : Syntax) (cmd : Syntax) : List Syntax :=
  if cmd.getKind == `Lean.Parser.Command.in && cmd.getNumArgs == 3 then
    sec :: appendL (expandIn sec fin cmd[0]) (appendL (expandIn sec fin cmd[2]) [fin])
  else [cmd]

partial def expandAll (sec fin : Syntax) : List Syntax → List Syntax
  | [] => []
  | c :: cs => appendL (expandIn sec fin c) (expandAll sec fin cs)

/-- One declaration of a command, as the report names it. -/
structure DeclInfo where
  /-- as written after the keyword (none for an anonymous instance) -/
  short : Option Name
  kind : String
  /-- the signature to pin (theorems and typed examples) -/
  sig : Option Syntax
  /-- shown instead of the name (examples) -/
  label : Option String := none

def declKind (d : Syntax) : String :=
  let k := d.getKind
  if k == ``Lean.Parser.Command.theorem then "theorem"
  else if k == ``Lean.Parser.Command.definition then "def"
  else if k == ``Lean.Parser.Command.abbrev then "abbrev"
  else if k == ``Lean.Parser.Command.instance then "instance"
  else if k == ``Lean.Parser.Command.example then "example"
  else if k == ``Lean.Parser.Command.structure then "structure"
  else if k == ``Lean.Parser.Command.inductive then "inductive"
  else if k == ``Lean.Parser.Command.opaque then "opaque"
  else if k == ``Lean.Parser.Command.axiom then "axiom"
  else nameStr k

def declInfoOf (decl : Syntax) : DeclInfo :=
  let d := decl[1]
  let kind := declKind d
  let sig := if kind == "theorem" then findSig d else none
  { short := declName? d, kind := kind, sig := sig }

partial def declInfos (cmd : Syntax) : List DeclInfo :=
  if cmd.getKind == ``Lean.Parser.Command.declaration then [declInfoOf cmd]
  else if cmd.getKind == ``Lean.Parser.Command.mutual then Id.run do
    let mut out : List DeclInfo := []
    for d in arrToList cmd[1].getArgs do
      if d.getKind == ``Lean.Parser.Command.declaration then out := declInfoOf d :: out
    return listRev out
  else []

def atomInfo : Syntax → SourceInfo
  | .atom i _ => i
  | _ => SourceInfo.none

/-- `example sig := val` as `def <nm> sig := val` (Lean discards an example's declaration, so it could not
be audited); `tmpl` is a parsed `def` whose other parts are empty. Positions of the example are kept. -/
def exampleAsDef (tmpl : Syntax) (cmd : Syntax) (nm : Name) : Syntax :=
  let ex := cmd[1]
  let declId := Syntax.node SourceInfo.none ``Lean.Parser.Command.declId #[mkIdent nm, mkNullNode]
  let d := ((((tmpl.setArg 0 (Syntax.atom (atomInfo ex[0]) "def")).setArg 1 declId).setArg 2 ex[1]).setArg 3 ex[2])
  cmd.setArg 1 d

def nativeConsts : List String :=
  ["Lean.reduceBool", "Lean.reduceNat", "Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"]
def stdAxioms : List String := ["propext", "Classical.choice", "Quot.sound"]

def lookupReason (n : Name) : List (Name × String) → Option String
  | [] => none
  | (m, r) :: t => if m == n then some r else lookupReason n t

def userStr (n : Name) : String := nameStr (userName n)

/-- The replay of what a check added. Invariant: `env` is the base environment plus the declarations the
kernel accepted here; `bad` holds every constant judged unsound, with the reason. -/
structure Replay where
  src : Environment
  base : Environment
  env : IO.Ref Environment
  seen : IO.Ref NameSet
  bad : IO.Ref (List (Name × String))
  holes : IO.Ref NameSet
  ctx : Core.Context

def Replay.fail (R : Replay) (n : Name) (why : String) : IO Unit := do
  let b ← readRef R.bad
  if (lookupReason n b).isNone then writeRef R.bad ((n, why) :: b)

def Replay.isBad (R : Replay) (n : Name) : IO (Option String) := do
  return lookupReason n (← readRef R.bad)

def Replay.hole (R : Replay) (n : Name) : IO Unit := do
  writeRef R.holes ((← readRef R.holes).insert n)

/-- `Lean.addDecl`, fully applied (a partial application of it needs its `_boxed` form, which this build
lacks). With the judge's options it runs the kernel: `debug.skipKernelTC` off, `Elab.async` off. -/
def judgeAddDecl (d : Declaration) : CoreM Unit := do
  Lean.addDecl d

/-- The kernel's check of one declaration, into `env`. -/
def Replay.add (R : Replay) (n : Name) (d : Declaration) : IO Unit := do
  if (← R.isBad n).isSome then return
  match ← runCore (judgeAddDecl d) R.ctx { env := ← readRef R.env } with
  | .ok (_, s) => writeRef R.env s.env
  | .error e => R.fail n ("the kernel rejects `" ++ userStr n ++ "`: " ++ (← exceptionText e))

/-- What the use of base constant `d` by added constant `n` means. -/
def Replay.useBase (R : Replay) (n d : Name) : IO Unit := do
  let s := nameStr d
  if s == "sorryAx" then R.hole n
  else if memStr s nativeConsts then R.fail n ("uses `" ++ s ++ "`, which trusts compiled code")
  -- this build loads imported theorems as axioms (without bodies), so only the axioms of the preludes
  -- (declared in this process, not imported) can be told apart
  else if (R.base.getModuleIdxFor? d).isNone then
    match R.base.find? d with
    | some (.axiomInfo _) => if !memStr s stdAxioms then R.fail n ("uses the axiom `" ++ s ++ "`")
    | _ => pure ()

def isUnsafeRecAux : Name → Bool
  | .str _ s => s == "_unsafe_rec"
  | _ => false

mutual
partial def Replay.visit (R : Replay) (n : Name) : IO Unit := do
  if R.base.contains n then return
  if (← readRef R.seen).contains n then return
  writeRef R.seen ((← readRef R.seen).insert n)
  match R.src.find? n with
  | none => R.fail n ("`" ++ userStr n ++ "` is not in the checked environment")
  | some ci => R.visitInfo n ci

/-- Visit the constants `xs` that `n` uses; their verdicts pass to `n`. -/
partial def Replay.deps (R : Replay) (n : Name) (xs : Array Name) (i : Nat) : IO Unit := do
  if h : i < xs.size then
    let d := xs[i]
    if R.base.contains d then R.useBase n d
    else if d != n then
      R.visit d
      if let some r := ← R.isBad d then R.fail n ("depends on `" ++ userStr d ++ "`, which " ++ r)
      if (← readRef R.holes).contains d then R.hole n
    R.deps n xs (i + 1)

partial def Replay.visitInfo (R : Replay) (n : Name) (ci : ConstantInfo) : IO Unit := do
  match ci with
  | .thmInfo v =>
    R.deps n v.type.getUsedConstants 0
    R.deps n v.value.getUsedConstants 0
    R.add n (.thmDecl v)
  | .defnInfo v =>
    match v.safety with
    | .safe =>
      if (Compiler.getImplementedBy? R.src n).isSome then
        R.fail n "has `@[implemented_by]`: compiled code would not be this definition"
      R.deps n v.type.getUsedConstants 0
      R.deps n v.value.getUsedConstants 0
      R.add n (.defnDecl v)
    | _ =>
      -- `_unsafe_rec`: the compiler's copy of a recursive definition; never replayed, so nothing checked
      -- can use it
      if isUnsafeRecAux n then pure ()
      else if ci.isUnsafe then R.fail n "is an `unsafe` definition"
      else R.fail n "is a `partial` definition"
  | .inductInfo v =>
    if v.isUnsafe then R.fail n "is an `unsafe` inductive type"; return
    -- the whole mutual block at once; its constructors come out of the kernel
    let mut types : List InductiveType := []
    for m in v.all do
      writeRef R.seen ((← readRef R.seen).insert m)
      if let some (.inductInfo iv) := R.src.find? m then
        for c in iv.ctors do writeRef R.seen ((← readRef R.seen).insert c)
    for m in v.all do
      match R.src.find? m with
      | some (.inductInfo iv) =>
        R.deps n iv.type.getUsedConstants 0
        let mut ctors : List Constructor := []
        for c in iv.ctors do
          match R.src.find? c with
          | some (.ctorInfo cv) =>
            R.deps n cv.type.getUsedConstants 0
            ctors := { name := c, type := cv.type } :: ctors
          | _ => R.fail n ("constructor `" ++ userStr c ++ "` is missing")
        types := { name := m, type := iv.type, ctors := listRev ctors } :: types
      | _ => R.fail n ("inductive type `" ++ userStr m ++ "` is missing")
    R.add n (.inductDecl v.levelParams v.numParams (listRev types) false)
    if let some r := ← R.isBad n then
      for m in v.all do R.fail m r
  | .ctorInfo v => R.sameAsKernel n ci.type v.induct
  | .recInfo _ => R.sameAsKernel n ci.type n.getPrefix
  | .axiomInfo _ => R.fail n "is an axiom"
  | .opaqueInfo _ => R.fail n "is an `opaque` constant (`opaque`, `partial def`, or `implemented_by`)"
  | .quotInfo _ => R.fail n "declares quotient primitives"

/-- A constructor or recursor: replay its inductive type, then the kernel's must be the same. -/
partial def Replay.sameAsKernel (R : Replay) (n : Name) (ty : Expr) (ind : Name) : IO Unit := do
  R.visit ind
  if let some r := ← R.isBad ind then R.fail n ("belongs to `" ++ userStr ind ++ "`, which " ++ r); return
  match (← readRef R.env).find? n with
  | some ci => if ci.type != ty then R.fail n "differs from what the kernel derives from its inductive type"
  | none => R.fail n "is not derived by the kernel from its inductive type"
end

/-- Elaborate a statement in a given environment, namespace and `open`s, with the server's options. -/
def elabIn (srv : Server) (lim : Limits) (env : Environment) (ns : Name) (opens : List OpenDecl)
    (lvls : List Name) (stx : Syntax) : IO (Except String Expr) := do
  let ctx ← coreCtx srv lim
  try
    match ← runCore (runMeta (elabStatement stx lvls) {}) { ctx with currNamespace := ns, openDecls := opens }
        { env := env } with
    | .ok ((e, _), _) => return .ok e
    | .error e => return .error (← exceptionText e)
  catch e => return .error (toString e)

/-- A proper suffix of `n` that names a base constant (`Foo.Nat` shadows `Nat`). -/
partial def shadowOf (base : Environment) (n : Name) : Option Name :=
  let m := dropFirst n
  if m.isAnonymous then none else if base.contains m then some m else shadowOf base m

def firstShadow (base : Environment) (xs : Array Name) : Option (Name × Name) := Id.run do
  for x in arrToList xs do
    if !base.contains x then
      if let some m := shadowOf base (userName x) then return some (x, m)
  return none

/-- Why the statement `stx` of a declaration of type `ty` does not say what its text says, if it does not. -/
def pinReason (srv : Server) (lim : Limits) (base replayed : Environment) (ns : Name) (opens : List OpenDecl)
    (lvls : List Name) (stx : Syntax) (ty : Expr) : IO (Option String) := do
  match ← elabIn srv lim base ns opens lvls stx with
  | .ok e =>
    if e == ty then return none
    return some ("its statement means something else in the file than in the pristine environment (a local \
      instance, notation, default instance, variable or shadowing name changed it)")
  | .error e0 =>
    match ← elabIn srv lim replayed ns opens lvls stx with
    | .error e1 => return some ("its statement does not elaborate without the file's context (instances, \
        notation, variables): " ++ e0 ++ "; with the file's checked definitions: " ++ e1)
    | .ok e =>
      if e != ty then
        return some "its statement means something else in the file than with the file's definitions alone"
      match firstShadow base e.getUsedConstants with
      | some (x, m) => return some ("its statement uses `" ++ userStr x ++ "`, which shadows `" ++ nameStr m ++ "`")
      | none => return none

/-- One command as elaborated. -/
structure CmdRec where
  stx : Syntax
  idx : Nat
  line : Nat
  column : Nat
  decls : List DeclInfo
  added : List Name
  msgs : List Json
  hasErr : Bool
  refused : Option String
  ns : Name
  opens : List OpenDecl
  levels : List Name
  env : Environment
  ms : Nat

mutual
partial def phmNode (n : PersistentHashMap.Node Name ConstantInfo) (acc : List Name) : List Name :=
  match n with
  | .entries es => phmEntries es 0 acc
  | .collision ks _ _ => phmKeys ks 0 acc
partial def phmEntries (es : Array (PersistentHashMap.Entry Name ConstantInfo
    (PersistentHashMap.Node Name ConstantInfo))) (i : Nat) (acc : List Name) : List Name :=
  if h : i < es.size then
    match es[i] with
    | .entry k _ => phmEntries es (i + 1) (k :: acc)
    | .ref n => phmEntries es (i + 1) (phmNode n acc)
    | .null => phmEntries es (i + 1) acc
  else acc
partial def phmKeys (ks : Array Name) (i : Nat) (acc : List Name) : List Name :=
  if h : i < ks.size then phmKeys ks (i + 1) (ks[i] :: acc) else acc
end

def filterNew (before : Environment) : List Name → List Name → List Name
  | [], acc => acc
  | n :: ns, acc => filterNew before ns (if before.contains n then acc else n :: acc)

/-- The constants of `after` that `before` lacks (walked by hand: the library's folds are not callable). -/
def addedConsts (before after : Environment) : List Name :=
  filterNew before (phmNode after.constants.map₂.root []) []

def firstBad (R : Replay) : List Name → IO (Option (Name × String))
  | [] => return none
  | n :: ns => do
    match ← R.isBad n with
    | some r => return some (n, r)
    | none => firstBad R ns

def anyHole (R : Replay) : List Name → IO Bool
  | [] => return false
  | n :: ns => do if (← readRef R.holes).contains n then return true else anyHole R ns

/-- Elaborate a command with positions in the checked text (the context's file map is the server's own). -/
def elabWithInput (ic : InputContext) (cmd : Syntax) : CommandElabM Unit :=
  fun ctx s => elabCommandTopLevel cmd { ctx with fileName := ic.fileName, fileMap := ic.fileMap } s

def errMsg (line column : Nat) (text : String) : Json :=
  Json.mkObj [("severity", "error"), ("line", num line), ("column", num column), ("text", Json.str text)]

def optJson : Option String → Json
  | some s => Json.str s
  | none => Json.null

def handleCheck (srv : Server) (j : Json) (trusted : Bool) (isAdd : Bool) : CommandElabM Answer := do
  let some code := getStr j "code"
    | return err ((if isAdd then "add" else "check") ++ ": missing string field `code`")
  let base ← if (getBool j "pristine").getD false then pure srv.pristine else readRef srv.env
  let expectName := getStr j "name"
  let expectStmt := getStr j "statement"
  let lim := limitsOf j
  -- built by hand: `Parser.mkInputContext` is not callable here
  let inputCtx : InputContext := { inputString := code, fileName := "<check>", fileMap := FileMap.ofString code }
  let (cmds0, parseMsgs) := parseCommands base srv.opts inputCtx {} []
  let sec := match runParserCategory base `command "section" with | .ok x => x | .error _ => Syntax.missing
  let fin := match runParserCategory base `command "end" with | .ok x => x | .error _ => Syntax.missing
  let tmpl := match runParserCategory base `command "def _judgeTemplate : True := trivial" with
    | .ok stx => some stx[1]
    | .error _ => none
  let cmds := expandAll sec fin cmds0
  -- the expected statement, elaborated once in the base environment
  let mut expectedTy : Option Expr := none
  if let some st := expectStmt then
    match parseStatement base st with
    | .error e => return err ("statement parse error: " ++ e)
    | .ok (stx, _) =>
      match ← runAt srv lim { env := base } {} (elabStatement stx) with
      | .error e => return err ("statement does not elaborate: " ++ e)
      | .ok (ty, _, _) => expectedTy := some ty
  let saved ← get
  setEnv base
  -- no info trees: they are for editors, and on 20,000-tactic inputs they exhausted the 2 GiB wasm heap
  modify fun s => { s with infoState := { s.infoState with enabled := false }, messages := {} }
  let hbOpt := srv.opts.setNat `maxHeartbeats lim.heartbeats
  modify fun s => { s with scopes := match s.scopes with
    | [] => []
    | sc :: rest => { sc with opts := hbOpt } :: rest }
  let mut recs : List CmdRec := []
  let mut idx := 0
  for cmd0 in cmds do
    idx := idx + 1
    let pos := inputCtx.fileMap.toPosition (cmd0.getPos?.getD 0)
    let isExample := cmd0.getKind == ``Lean.Parser.Command.declaration &&
      cmd0[1].getKind == ``Lean.Parser.Command.example
    let exName := Name.mkSimple ("_judge_example_" ++ toString pos.line ++ "_" ++ toString idx)
    let cmd := match isExample, tmpl with
      | true, some t => exampleAsDef t cmd0 exName
      | _, _ => cmd0
    let mut infos := declInfos cmd0
    if isExample then
      infos := [{ short := some exName, kind := "example", sig := findSig cmd0[1],
                  label := some ("example@" ++ toString pos.line) }]
    let refused := match unauditable cmd0 with
      | some r => some r
      | none => if isExample && tmpl.isNone then some "examples cannot be audited here"
        else if trusted then none else denyReason cmd0
    let envBefore ← getEnv
    let t0 ← IO.monoMsNow
    let mut mj : List Json := []
    let mut hasErr := false
    match refused with
    | some r =>
      hasErr := true
      mj := [errMsg pos.line pos.column r]
    | none =>
      modify fun s => { s with messages := {} }
      try
        elabWithInput inputCtx cmd
      catch e =>
        hasErr := true
        mj := [errMsg pos.line pos.column (← exceptionText e)]
      let msgs := (← get).messages
      for m in msgs.toList do mj := (← msgJson inputCtx.fileMap m) :: mj
      if msgs.hasErrors then hasErr := true
    let env ← getEnv
    let sc := (← get).scopes
    recs := { stx := cmd0, idx := idx, line := pos.line, column := pos.column, decls := infos,
              added := addedConsts envBefore env, msgs := listRev mj, hasErr := hasErr, refused := refused,
              ns := scopeNs sc, opens := scopeOpens sc, levels := scopeLevels sc, env := env, ms := (← IO.monoMsNow) - t0 } :: recs
  recs := listRev recs
  let finalEnv ← getEnv
  set saved
  if isAdd then
    writeRef srv.env finalEnv
    let mut out : List Json := []
    let mut allOk := true
    for r in recs do
      if r.hasErr then allOk := false
      out := Json.mkObj [("name", Json.str ("command#" ++ toString r.idx)), ("ok", Json.bool !r.hasErr),
        ("complete", Json.bool !r.hasErr), ("sound", Json.bool !r.hasErr), ("messages", jsonArr r.msgs)] :: out
    if parseMsgs.hasErrors then allOk := false
    let mut pm : List Json := []
    for m in parseMsgs.toList do pm := (← msgJson inputCtx.fileMap m) :: pm
    return ok [("all_ok", Json.bool allOk), ("declarations", jsonArr (listRev out)),
      ("parse_messages", jsonArr (listRev pm)), ("expected_found", Json.bool true)]
  -- the replay: every added constant, and every declared one, re-checked from the base environment
  let replayOpts := ((srv.opts.setNat `maxHeartbeats lim.heartbeats).setBool `debug.skipKernelTC false).setBool
    `Elab.async false
  let ctx ← coreCtx srv lim
  let R : Replay := { src := finalEnv, base := base, env := ← newRef base, seen := ← newRef {},
                      bad := ← newRef [], holes := ← newRef {}, ctx := { ctx with options := replayOpts } }
  let mut auditError : Option String := none
  try
    for r in recs do
      for n in r.added do R.visit n
      for d in r.decls do
        if let some s := d.short then
          let full := if hasRoot s then dropRoot s else r.ns ++ s
          if let some (declared, _) := findDecl r.env full then R.visit declared
  catch e => auditError := some ("replay failed: " ++ (← exceptionText e))
  -- the base environment plus what the kernel accepted, for statements that name the file's definitions
  let replayed ← readRef R.env
  -- verdicts, one per declaration (or per command that declares nothing)
  let mut results : List Json := []
  let mut allOk := auditError.isNone
  let mut sawExpected := false
  for r in recs do
    let cmdBad ← firstBad R r.added
    let cmdHole ← anyHole R r.added
    let base0 : List (String × Json) := [("ok", Json.bool !r.hasErr), ("messages", jsonArr r.msgs),
      ("ms", num r.ms), ("line", num r.line)]
    if listLen r.decls == 0 then
      let reason := match r.refused, cmdBad with
        | some x, _ => some x
        | none, some (n, x) => some ("`" ++ userStr n ++ "` " ++ x)
        | none, none => none
      let sound := !r.hasErr && reason.isNone && !cmdHole
      if !sound then allOk := false
      results := Json.mkObj (("name", Json.str ("command#" ++ toString r.idx)) :: ("complete", Json.bool (!cmdHole && !r.hasErr)) ::
        ("sound", Json.bool sound) :: ("unsound_reason", optJson reason) :: base0) :: results
    for d in r.decls do
      let full := match d.short with
        | some s => if hasRoot s then dropRoot s else r.ns ++ s
        | none => Name.anonymous
      let found := if full.isAnonymous then none else findDecl r.env full
      let shown := match d.label, found with
        | some l, _ => l
        | none, some (declared, _) => userStr declared
        | none, none => if full.isAnonymous then d.kind ++ "@" ++ toString r.line else nameStr full
      let mut fields := base0
      let mut reason : Option String := r.refused
      let mut auditErr : Option String := none
      let mut complete := !r.hasErr && !cmdHole
      if reason.isNone && !r.hasErr then
        match found with
        | none =>
          if !full.isAnonymous then
            auditErr := some "declaration not found after elaboration"
            reason := some "declaration not found after elaboration"
        | some (declared, _) =>
          -- judge the declaration the kernel replayed, not the elaborator's copy of it
          let ci := match replayed.find? declared with
            | some c => c
            | none => ConstantInfo.axiomInfo { name := declared, levelParams := [], type := mkConst ``False,
                                               isUnsafe := false }
          if (replayed.find? declared).isNone && (← R.isBad declared).isNone then
            R.fail declared "was not replayed"
          if (← readRef R.holes).contains declared then complete := false
          match ← R.isBad declared with
          | some x => reason := some ("`" ++ shown ++ "` " ++ x)
          | none =>
            match cmdBad with
            | some (n, x) => reason := some ("the same command added `" ++ userStr n ++ "`, which " ++ x)
            | none => pure ()
          -- the statement's meaning
          let isExpected := expectedTy.isSome && d.kind != "example" &&
            (expectName.isNone || expectName == some shown || expectName == some (nameStr full) ||
             (match d.short with | some s => expectName == some (nameStr s) | none => false))
          if isExpected then
            sawExpected := true
            let same := match expectedTy with | some ety => ci.type == ety | none => false
            fields := ("statement_matches", Json.bool same) :: fields
            if !same && reason.isNone then
              reason := some "its statement is not the reference statement"
          else if reason.isNone then
            match (match d.sig with | some sg => sigStatement sg | none => none) with
            | some (stx, _) =>
              if let some why := ← pinReason srv lim base replayed r.ns r.opens r.levels stx ci.type then
                reason := some why
            | none => pure ()
      if reason.isNone && !complete && !r.hasErr then reason := some "it uses `sorry`"
      let sound := !r.hasErr && complete && reason.isNone && auditErr.isNone
      if !sound then allOk := false
      fields := ("name", Json.str shown) :: ("kind", Json.str d.kind) :: ("complete", Json.bool complete) ::
        ("sound", Json.bool sound) :: ("unsound_reason", optJson reason) :: ("audit_error", optJson auditErr) ::
        ("bad_axioms", strListJson []) :: fields
      results := Json.mkObj fields :: results
  let mut pm : List Json := []
  for m in parseMsgs.toList do pm := (← msgJson inputCtx.fileMap m) :: pm
  if parseMsgs.hasErrors then allOk := false
  if expectedTy.isSome && !sawExpected then allOk := false
  return ok [("all_ok", Json.bool allOk), ("declarations", jsonArr (listRev results)),
    ("parse_messages", jsonArr (listRev pm)), ("expected_found", Json.bool (expectedTy.isNone || sawExpected)),
    ("audit_error", optJson auditError)]

def handleStats (srv : Server) : IO Answer := do
  let arr ← readRef srv.states
  let off ← readRef srv.offset
  return ok [("states_created", num (off + arr.size)), ("live_states", num arr.size),
    ("requests", num (← readRef srv.requests)), ("heartbeats", num (← IO.getNumHeartbeats)),
    ("uptime_ms", num ((← IO.monoMsNow) - srv.started))]

def handleClear (srv : Server) : IO Answer := do
  let arr ← readRef srv.states
  let off ← readRef srv.offset
  writeRef srv.offset (off + arr.size)
  writeRef srv.states #[]
  return ok [("cleared", num arr.size)]


/-! ## Tracing: tactics, states and premises from info trees (the `trace` command)

`trace {code, prefix?, trusted?}` elaborates `code` command by command (parsing each with the environment
the previous ones built, so in-file notations parse) with info trees enabled for this request only, and
walks each command's trees. A tactic is recorded when its syntax has an original source range, it is not a
wrapper (`by`, sequences, `·`, `<;>`, parentheses), it had goals, and the pretty-printed goals changed.
`prefix` is elaborated first without info trees and without reports (e.g. a file's earlier blocks).
The base environment is never changed. -/

/-- Persistent arrays walked by hand (their library traversals are not callable here). -/
partial def paNodeCollect {α : Type} (n : PersistentArrayNode α) (out : Array α) : Array α := Id.run do
  match n with
  | .leaf vs =>
    let mut o := out
    for v in arrToList vs do o := o.push v
    return o
  | .node cs =>
    let mut o := out
    for c in arrToList cs do o := paNodeCollect c o
    return o

def paToList {α : Type} (p : PersistentArray α) : List α := Id.run do
  let mut o := paNodeCollect p.root #[]
  for v in arrToList p.tail do o := o.push v
  return arrToList o

/-- Syntax kinds that only group other tactics. -/
def wrapperKinds : List String :=
  ["Lean.Parser.Term.byTactic", "Lean.Parser.Tactic.tacticSeq", "Lean.Parser.Tactic.tacticSeq1Indented",
   "Lean.Parser.Tactic.tacticSeqBracketed", "Lean.cdot", "Lean.cdotTk", "Lean.Parser.Tactic.tactic_<;>_",
   "Lean.Parser.Tactic.paren", "null", "Lean.Parser.Tactic.rwRule", "Lean.Parser.Tactic.rwRuleSeq",
   "Lean.Parser.Term.byTactic'", "Lean.Parser.Tactic.inductionAlt", "Lean.Parser.Tactic.inductionAlts",
   "Lean.Parser.Tactic.matchRhs", "Lean.Parser.Term.matchAlt", "Lean.Parser.Tactic.case",
   "Lean.Parser.Tactic.case'", "Lean.Parser.Tactic.nestedTactic"]

def mergeCtx (pci : PartialContextInfo) (outer? : Option ContextInfo) : Option ContextInfo :=
  match pci with
  | .commandCtx info => some { info with }
  | .parentDeclCtx d =>
    match outer? with
    | some outer => some { outer with parentDecl? := some d }
    | none => none
  | _ => outer?  -- other scopes (auto-bound implicits) keep the outer context

/-- Pretty-print goals in a recorded context and metavariable context. -/
def ppAt (srv : Server) (lim : Limits) (ci : ContextInfo) (mctx : MetavarContext) (gs : List MVarId) :
    IO (List String) := do
  let base ← coreCtx srv lim
  let ctx0 : Core.Context := { base with options := ci.options }
  let ctx1 : Core.Context := { ctx0 with currNamespace := ci.currNamespace }
  let ctx : Core.Context := { ctx1 with openDecls := ci.openDecls }
  try
    match ← runCore (runMeta (ppGoals gs) { mctx := mctx }) ctx { env := ci.env, ngen := ci.ngen } with
    | .ok ((pp, _), _) => return pp
    | .error e => return ["<pp error: " ++ (← exceptionText e) ++ ">"]
  catch e => return ["<pp error: " ++ toString e ++ ">"]

def moduleOf (env : Environment) (n : Name) : String :=
  match env.getModuleIdxFor? n with
  | some idx =>
    let names := env.header.moduleNames
    if h : idx.toNat < names.size then nameStr names[idx.toNat] else ""
  | none => ""

def rangeFields (fm : FileMap) (stx : Syntax) : List (String × Json) :=
  match stx.getPos? true, stx.getTailPos? true with
  | some a, some b =>
    let pa := fm.toPosition a
    let pb := fm.toPosition b
    [("start", num a.byteIdx), ("end", num b.byteIdx), ("line", num pa.line), ("column", num pa.column),
     ("end_line", num pb.line), ("end_column", num pb.column)]
  | _, _ => []

/-- Constants named in a subtree (premises), with the modules that declare them. -/
partial def collectPremises (env : Environment) (fm : FileMap) (t : InfoTree) (acc : Array Json) : Array Json :=
  Id.run do
  match t with
  | .context _ t' => return collectPremises env fm t' acc
  | .hole _ => return acc
  | .node i cs =>
    let mut a := acc
    match i with
    | .ofTermInfo ti =>
      match ti.expr with
      | .const n _ =>
        let r := rangeFields fm ti.stx
        if listLen r > 0 then
          a := a.push (Json.mkObj (("name", Json.str (nameStr n)) :: ("module", Json.str (moduleOf env n)) :: r))
      | _ => pure ()
    | _ => pure ()
    for c in paToList cs do a := collectPremises env fm c a
    return a

structure TraceAcc where
  tactics : Array Json := #[]
  holes : Nat := 0

partial def walkTrace (srv : Server) (lim : Limits) (fm : FileMap) (ctx? : Option ContextInfo) (t : InfoTree)
    (acc : TraceAcc) : IO TraceAcc := do
  match t with
  | .context pci t' => walkTrace srv lim fm (mergeCtx pci ctx?) t' acc
  | .hole _ => return { acc with holes := acc.holes + 1 }
  | .node i cs =>
    let mut a := acc
    if let .ofTacticInfo ti := i then
      if let some ci := ctx? then
        let kind := nameStr ti.stx.getKind
        let r := rangeFields fm ti.stx
        let isNode := match ti.stx with | .node .. => true | _ => false
        if isNode && !memStr kind wrapperKinds && listLen r > 0 && listLen ti.goalsBefore > 0 then
          let before ← ppAt srv lim ci ti.mctxBefore ti.goalsBefore
          let after ← ppAt srv lim ci ti.mctxAfter ti.goalsAfter
          if before != after then
            let prem := collectPremises ci.env fm t #[]
            a := { a with tactics := a.tactics.push (Json.mkObj (("kind", Json.str kind) ::
              ("state_before", strListJson before) :: ("state_after", strListJson after) ::
              ("premises", Json.arr prem) :: r)) }
    for c in paToList cs do a ← walkTrace srv lim fm ctx? c a
    return a

partial def walkTrees (srv : Server) (lim : Limits) (fm : FileMap) (ts : List InfoTree) (acc : TraceAcc) :
    IO TraceAcc := do
  match ts with
  | [] => return acc
  | t :: rest => walkTrees srv lim fm rest (← walkTrace srv lim fm none t acc)

/-- Elaborate one command with the request's heartbeat limit and Lean's default `autoImplicit`; exceptions
become an error message. -/
def elabOne (srv : Server) (lim : Limits) (cmd : Syntax) : CommandElabM (List Json) := do
  -- traced files are written for Lean's defaults, which bind unknown lowercase names as implicits
  let hbOpt := ((srv.opts.setNat `maxHeartbeats lim.heartbeats).setBool `autoImplicit true).setBool
    `relaxedAutoImplicit true
  modify fun s => { s with scopes := match s.scopes with
    | [] => []
    | sc :: rest => { sc with opts := hbOpt } :: rest }
  try
    elabCommandTopLevel cmd
    return []
  catch e =>
    return [Json.mkObj [("severity", "error"), ("line", num 0), ("column", num 0),
      ("text", Json.str (← exceptionText e))]]

/-- Elaborate a prefix silently; returns how many of its commands failed or were refused. -/
partial def elabPrefix (srv : Server) (lim : Limits) (trusted : Bool) (inputCtx : InputContext)
    (pst : ModuleParserState) (failed : Nat) : CommandElabM Nat := do
  let (stx, pst', msgs) := Parser.parseCommand inputCtx { env := ← getEnv, options := srv.opts } pst {}
  if Parser.isTerminalCommand stx then return failed
  let mut f := failed
  if msgs.hasErrors then f := f + 1
  modify fun s => { s with messages := {} }
  match (if trusted then none else denyReason stx) with
  | some _ => f := f + 1
  | none =>
    let thrown ← elabOne srv lim stx
    if (← get).messages.hasErrors || listLen thrown > 0 then f := f + 1
  if pst'.pos == pst.pos then return f  -- no progress: stop rather than loop
  elabPrefix srv lim trusted inputCtx pst' f

/-- Trace reports on declarations, not a verdict (`check` is the judge): a traced theorem is marked complete and
sound from its axioms alone, so a dataset can leave out proofs that rely on `sorry` or compiled code. -/
def traceIsTheoremLike (stx : Syntax) : Bool :=
  let k := if stx.getNumArgs > 1 then stx[1].getKind else stx.getKind
  k == ``Lean.Parser.Command.theorem || k == ``Lean.Parser.Command.example
    || k == ``Lean.Parser.Command.definition

def traceBadAxioms : List String := ["Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"]

def traceAudit (env : Environment) (n : Name) : CoreM (Bool × Bool × List String) := do
  let axs ← Lean.collectAxioms n
  let mut complete := true
  let mut sound := true
  let mut bad : List String := []
  for a in arrToList axs do
    let s := nameStr a
    if s == "sorryAx" then complete := false
    else if memStr s traceBadAxioms then sound := false; bad := s :: bad
    else if (env.getModuleIdxFor? a).isNone then
      -- declared by the traced file, not imported: only a real axiom would be collected
      sound := false; bad := s :: bad
  return (complete, sound, bad)

partial def traceCommands (srv : Server) (lim : Limits) (trusted : Bool) (inputCtx : InputContext)
    (pst : ModuleParserState) (idx : Nat) (out : List Json) : CommandElabM (List Json) := do
  let (stx, pst', parseMsgs) := Parser.parseCommand inputCtx { env := ← getEnv, options := srv.opts } pst {}
  if Parser.isTerminalCommand stx then return listRev out
  let fm := inputCtx.fileMap
  let mut pm : List Json := []
  for m in parseMsgs.toList do pm := (← msgJson fm m) :: pm
  let name? := declName? stx
  let nameS := match name? with | some n => nameStr n | none => "command#" ++ toString idx
  let kind := nameStr (if stx.getKind == ``Lean.Parser.Command.declaration then stx[1].getKind else stx.getKind)
  let mut fields : List (String × Json) := ("name", Json.str nameS) :: ("kind", Json.str kind) ::
    ("parse_ok", Json.bool !parseMsgs.hasErrors) :: rangeFields fm stx
  match (if trusted then none else denyReason stx) with
  | some r =>
    fields := ("ok", Json.bool false) :: ("refused", Json.str r) :: ("messages", jsonArr (listRev pm)) ::
      ("tactics", Json.arr #[]) :: fields
  | none =>
    modify fun s => { s with messages := {}, infoState := { enabled := true } }
    let t0 ← IO.monoMsNow
    let thrown ← elabOne srv lim stx
    let ms := (← IO.monoMsNow) - t0
    let st ← get
    let mut mj : List Json := pm
    for m in st.messages.toList do mj := (← msgJson fm m) :: mj
    for m in thrown do mj := m :: mj
    let hasErr := st.messages.hasErrors || listLen thrown > 0 || parseMsgs.hasErrors
    let w0 ← IO.monoMsNow
    let acc ← walkTrees srv lim fm (paToList st.infoState.trees) {}
    let walkMs := (← IO.monoMsNow) - w0
    modify fun s => { s with infoState := { enabled := false } }
    fields := ("ok", Json.bool !hasErr) :: ("messages", jsonArr (listRev mj)) :: ("ms", num ms) ::
      ("walk_ms", num walkMs) ::
      ("tactics", Json.arr acc.tactics) :: ("holes", num acc.holes) :: fields
    if traceIsTheoremLike stx && !hasErr then
      let full := match name? with
        | some n => scopeNs st.scopes ++ n
        | none => Name.anonymous
      if let some (declared, _) := (if full == Name.anonymous then none else findDecl st.env full) then
        let ctx ← coreCtx srv lim
        match ← runCore (traceAudit st.env declared) ctx { env := st.env } with
        | .ok ((complete, sound, bad), _) =>
          fields := ("full_name", Json.str (nameStr full)) :: ("complete", Json.bool complete) ::
            ("sound", Json.bool (complete && sound)) :: ("bad_axioms", strListJson bad) :: fields
        | .error e => fields := ("audit_error", Json.str (← exceptionText e)) :: fields
  let out' := Json.mkObj fields :: out
  if pst'.pos == pst.pos then return listRev out'
  traceCommands srv lim trusted inputCtx pst' (idx + 1) out'

def handleTrace (srv : Server) (j : Json) (trusted : Bool) : CommandElabM Answer := do
  let some code := getStr j "code" | return err "trace: missing string field `code`"
  let pre := (getStr j "prefix").getD ""
  let lim := limitsOf j
  let base ← if (getBool j "pristine").getD false then pure srv.pristine else readRef srv.env
  let saved ← get
  setEnv base
  modify fun s => { s with infoState := { enabled := false } }
  let preCtx : InputContext := { inputString := pre, fileName := "<prefix>", fileMap := FileMap.ofString pre }
  let p0 ← IO.monoMsNow
  let preFailed ← elabPrefix srv lim trusted preCtx {} 0
  let preMs := (← IO.monoMsNow) - p0
  let inputCtx : InputContext := { inputString := code, fileName := "<trace>", fileMap := FileMap.ofString code }
  let decls ← traceCommands srv lim trusted inputCtx {} 1 []
  set saved
  return ok [("declarations", jsonArr decls), ("prefix_failed", num preFailed), ("prefix_ms", num preMs)]

def handle (srv : Server) (line : String) : CommandElabM Answer := do
  match Json.parse line with
  | .error e => return err ("malformed JSON: " ++ e)
  | .ok j =>
    let some name := getStr j "cmd" | return err "missing string field `cmd`"
    let some cmd := WireCmd.ofName? name | return err ("unknown command `" ++ name ++ "`")
    -- exhaustive: a command added to the WIRE block without a handler here does not compile
    match cmd with
    | .start => handleStart srv j
    | .tactic => handleTactic srv j
    | .check => handleCheck srv j ((getBool j "trusted").getD false) false
    | .add => handleCheck srv j true true
    | .trace => handleTrace srv j ((getBool j "trusted").getD false)
    | .stats => handleStats srv
    | .clear => handleClear srv

def reply (out : IO.FS.Handle) (pfx : String) (id : Json) (answer : Answer) : IO Unit := do
  out.putStrLn (pfx ++ (Json.mkObj (("id", id) :: answer)).compress)
  out.flush

partial def loop (srv : Server) (inp out : IO.FS.Handle) (pfx : String) : CommandElabM Unit := do
  let line ← inp.getLine
  if line.isEmpty then return  -- end of input: shut down
  if line == "\n" then loop srv inp out pfx else
  writeRef srv.requests ((← readRef srv.requests) + 1)
  let id := match Json.parse line with
    | .ok j => match j.getObjVal? "id" with | .ok v => v | .error _ => Json.null
    | .error _ => Json.null
  let answer ← try handle srv line
    catch e => pure (err ("internal error: " ++ (← exceptionText e)))
  reply out pfx id answer
  loop srv inp out pfx

def scopeOpts : List Scope → Options
  | [] => {}
  | sc :: _ => sc.opts

def serve : CommandElabM Unit := do
  let inp ← IO.FS.Handle.mk "/dev/stdin" .read
  let out ← IO.FS.Handle.mk "/dev/stdout" .write
  let srv : Server := { env := ← newRef (← getEnv), pristine := ← getEnv, opts := scopeOpts (← get).scopes,
                        states := ← newRef #[], offset := ← newRef 0,
                        requests := ← newRef 0,
                        started := ← IO.monoMsNow }
  -- The client's first line is a secret key for this session's answers: code that runs during elaboration
  -- and reaches stdout cannot know it, so what it prints can never pass for an answer.
  let keyLine ← inp.getLine
  let key := match keyLine.splitOn "\n" with  -- `String.replace` is not callable here
    | k :: _ => k
    | [] => ""
  let pfx := answerTag ++ " " ++ key ++ " "
  out.putStrLn (pfx ++ (Json.mkObj [("ready", Json.bool true)]).compress)
  out.flush
  loop srv inp out pfx

end LeanServer
