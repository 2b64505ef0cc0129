import Lean
/-!
# LeanServer: a proof-state server speaking JSON lines

One request per line on stdin, one answer per line on stdout (prefixed with `@@LS@@ ` because the embedded
Lean also prints its own diagnostics there). The server keeps one base environment loaded and answers:

* `start {statement}`      -> a proof state id and its goals;
* `tactic {state, tactic}` -> a new state id and goals, `complete`, or an error; any earlier state may be used;
* `check {code, statement?, name?}` -> per declaration: messages, complete, sound, statement unchanged;
* `add {code}`             -> trusted declarations (a prelude) added to the base environment;
* `stats`, `clear`.

Invariant: a request never changes the base environment except `add`, and a failing request leaves every
stored proof state as it was. Errors are answers, never crashes.

The embedded (WebAssembly) Lean loads only the exported part of each .olean, so newly compiled code cannot
call library functions whose compiled form is a reduced-arity (`_redArg`) or private helper. Hence the
monad runners below are written by hand, lists are walked with our own recursive helpers, and names are
printed by `nameStr`. Keep it that way when editing: monomorphic library entry points only.
-/
open Lean Elab Meta Command Parser

namespace LeanServer

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

def runTerm {α : Type} (x : TermElabM α) : MetaM α := do
  let ref ← newRef ({} : Term.State)
  x { errToSorry := false, declName? := some `_leanServer } ref

/-- Per-request limits. `heartbeats` is in thousands, like Lean's `maxHeartbeats` option. -/
structure Limits where
  heartbeats : Nat := 20000
  maxRecDepth : Nat := 512

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
   "register_tactic_tag", "open private"]

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
   "unsafeBaseIO", "unsafeIO", "unsafeEIO", "implemented_by"]

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
    else if v.startsWith "#" then some ("`" ++ v ++ "` is not allowed in untrusted input")
    else none
  | .ident _ _ n _ =>
    let s := nameStr n
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

/-- Parse a statement: `theorem name binders : type` (an optional `:= ...` is ignored) or a bare
proposition. The caller strips any `:= proof` first. Returns the proposition as `∀ binders, type` and how many binders to introduce. -/
def parseStatement (env : Environment) (text : String) : Except String (Syntax × Nat) := do
  let t := text
  let isDecl := t.startsWith "theorem " || t.startsWith "example"
  if !isDecl then
    let stx ← runParserCategory env `term t "<statement>"
    return (stx, 0)
  let src := t ++ " := sorry"
  let stx ← runParserCategory env `command src "<statement>"
  let some sig := findSig stx | throw "statement has no signature"
  let binders := sig[0].getArgs
  let ty ← if sig.getKind == ``Lean.Parser.Command.declSig then pure sig[1][1]
    else if sig[1].getNumArgs > 0 then pure sig[1][0][1] else throw "statement has no type"
  let mut n := 0
  for b in arrToList binders do n := n + binderCount b
  if binders.size == 0 then return (ty, 0)
  let forallStx := Syntax.node SourceInfo.none ``Lean.Parser.Term.forall
    #[Syntax.atom SourceInfo.none "∀", Syntax.node SourceInfo.none nullKind binders,
      Syntax.node SourceInfo.none nullKind #[], Syntax.atom SourceInfo.none ",", ty]
  return (forallStx, n)

/-- Elaborate a statement to a closed proposition. -/
def elabStatement (stx : Syntax) : MetaM Expr := runTerm do
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
  { heartbeats := (getNat j "heartbeats").getD 20000, maxRecDepth := (getNat j "max_rec_depth").getD 512 }

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

/-- A tactic, or a sequence such as `intro x; simp` or several lines (parsed as `(seq)`). -/
def parseTactic (env : Environment) (text : String) : Except String Syntax :=
  match runParserCategory env `tactic text "<tactic>" with
  | .ok stx => .ok stx
  | .error e =>
    match runParserCategory env `tactic ("(" ++ text ++ "\n)") "<tactic>" with
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

/-- Parse all commands of a source text. -/
partial def parseCommands (env : Environment) (opts : Options) (inputCtx : InputContext)
    (pst : ModuleParserState) (acc : List Syntax) : List Syntax × MessageLog :=
  let (stx, pst', msgs) := Parser.parseCommand inputCtx { env := env, options := opts } pst {}
  if Parser.isTerminalCommand stx then (listRev acc, msgs)
  else if msgs.hasErrors then (listRev (stx :: acc), msgs)
  else parseCommands env opts inputCtx pst' (stx :: acc)

def msgJson (_fm : FileMap) (m : Message) : IO Json := do
  let sev := match m.severity with | .error => "error" | .warning => "warning" | .information => "info"
  let pos := m.pos
  return Json.mkObj [("severity", Json.str sev), ("line", num pos.line), ("column", num pos.column),
    ("text", Json.str (← m.data.toString))]

def badAxioms : List String := ["Lean.ofReduceBool", "Lean.ofReduceNat", "Lean.trustCompiler"]

/-- The declared name of a command, if it declares one (with the current namespace). -/
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

def isTheoremLike (stx : Syntax) : Bool :=
  let k := if stx.getNumArgs > 1 then stx[1].getKind else stx.getKind
  k == ``Lean.Parser.Command.theorem || k == ``Lean.Parser.Command.example
    || k == ``Lean.Parser.Command.definition

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

/-- Audit one declared constant: kernel accepted, no sorry, no escape-hatch or new axioms. -/
def auditConst (env : Environment) (n : Name) : CoreM (Bool × Bool × List String) := do
  let axs ← Lean.collectAxioms n
  let mut complete := true
  let mut sound := true
  let mut bad : List String := []
  for a in arrToList axs do
    let s := nameStr a
    if s == "sorryAx" then complete := false
    else if memStr s badAxioms then sound := false; bad := s :: bad
    else if (env.getModuleIdxFor? a).isNone then
      -- declared in this request, not imported: only a real axiom would be collected
      sound := false; bad := s :: bad
  return (complete, sound, bad)

def scopeNs : List Scope → Name
  | [] => Name.anonymous
  | sc :: _ => sc.currNamespace

def handleCheck (srv : Server) (j : Json) (trusted : Bool) : CommandElabM Answer := do
  let some code := getStr j "code" | return err "check: missing string field `code`"
  let base ← if (getBool j "pristine").getD false then pure srv.pristine else readRef srv.env
  let expectName := getStr j "name"
  let expectStmt := getStr j "statement"
  let lim := limitsOf j
  -- built by hand: `Parser.mkInputContext` is not callable here
  let inputCtx : InputContext := { inputString := code, fileName := "<check>", fileMap := FileMap.ofString code }
  let (cmds, parseMsgs) := parseCommands base srv.opts inputCtx {} []
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
  modify fun s => { s with infoState := { s.infoState with enabled := false } }
  let mut results : List Json := []
  let mut allOk := true
  let mut idx := 0
  let mut sawExpected := false
  for cmd in cmds do
    idx := idx + 1
    modify fun s => { s with messages := {} }
    let rejected := if trusted then none else denyReason cmd
    let name? := declName? cmd
    let nameS := match name? with | some n => nameStr n | none => "command#" ++ toString idx
    match rejected with
    | some r =>
      allOk := false
      results := Json.mkObj [("name", Json.str nameS), ("ok", Json.bool false), ("complete", Json.bool false),
        ("sound", Json.bool false), ("messages", jsonArr [Json.mkObj [("severity", "error"),
          ("line", num (inputCtx.fileMap.toPosition (cmd.getPos?.getD 0)).line), ("column", num 0),
          ("text", Json.str r)]])] :: results
    | none =>
      let t0 ← IO.monoMsNow
      let hbOpt := srv.opts.setNat `maxHeartbeats lim.heartbeats
      let mut thrown : List Json := []
      try
        modify fun s => { s with scopes := match s.scopes with
          | [] => []
          | sc :: rest => { sc with opts := hbOpt } :: rest }
        elabCommandTopLevel cmd
      catch e =>
        thrown := [Json.mkObj [("severity", "error"), ("line", num 0), ("column", num 0),
          ("text", Json.str (← exceptionText e))]]
      let msgs := (← get).messages
      let mut mj : List Json := thrown
      for m in msgs.toList do mj := (← msgJson inputCtx.fileMap m) :: mj
      let hasErr := msgs.hasErrors || listLen thrown > 0
      let env ← getEnv
      let mut fields : List (String × Json) := [("name", Json.str nameS), ("ok", Json.bool !hasErr),
        ("messages", jsonArr (listRev mj)), ("ms", num ((← IO.monoMsNow) - t0))]
      if isTheoremLike cmd then
        let ns := scopeNs (← get).scopes
        let full := match name? with
          | some n => ns ++ n
          | none => Name.anonymous
        let found := if full == Name.anonymous || hasErr then none else findDecl env full
        if let some (declared, _) := found then
          let ctx ← coreCtx srv lim
          match ← runCore (auditConst env declared) ctx { env := env } with
          | .ok ((complete, sound, bad), _) =>
            let mut stmtOk := true
            if let some ety := expectedTy then
              if expectName.isNone || expectName == some nameS || expectName == some (nameStr full) then
                sawExpected := true
                match found with
                | some (_, ci) => stmtOk := ci.type == ety
                | none => stmtOk := false
                fields := ("statement_matches", Json.bool stmtOk) :: fields
            fields := ("complete", Json.bool complete) :: ("sound", Json.bool (sound && complete && stmtOk)) ::
              ("bad_axioms", strListJson bad) :: fields
            if !(complete && sound && stmtOk) then allOk := false
          | .error e =>
            allOk := false
            fields := ("complete", Json.bool false) :: ("sound", Json.bool false) ::
              ("audit_error", Json.str (← exceptionText e)) :: fields
        else if name?.isSome then
          -- a named declaration that failed, or that we cannot find to audit: never sound
          allOk := false
          fields := ("complete", Json.bool false) :: ("sound", Json.bool false) ::
            (if hasErr then fields else ("audit_error", Json.str "declaration not found after elaboration") :: fields)
        else
          -- an `example`: Lean elaborates and kernel-checks it, then discards it, so judge by its messages
          let complete := !hasErr
          let mut sorryWarn := false
          for m in msgs.toList do
            if strContains (← m.data.toString) "sorry" then sorryWarn := true
          fields := ("complete", Json.bool (complete && !sorryWarn)) ::
            ("sound", Json.bool (complete && !sorryWarn && expectedTy.isNone)) :: fields
          if hasErr || sorryWarn then allOk := false
      else if hasErr then allOk := false
      results := Json.mkObj fields :: results
  let finalEnv ← getEnv
  set saved
  if trusted then writeRef srv.env finalEnv
  let mut pm : List Json := []
  for m in parseMsgs.toList do pm := (← msgJson inputCtx.fileMap m) :: pm
  if parseMsgs.hasErrors then allOk := false
  if expectedTy.isSome && !sawExpected then allOk := false
  return ok [("all_ok", Json.bool allOk), ("declarations", jsonArr (listRev results)),
    ("parse_messages", jsonArr (listRev pm)), ("expected_found", Json.bool (expectedTy.isNone || sawExpected))]

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
    let acc ← walkTrees srv lim fm (paToList st.infoState.trees) {}
    modify fun s => { s with infoState := { enabled := false } }
    fields := ("ok", Json.bool !hasErr) :: ("messages", jsonArr (listRev mj)) :: ("ms", num ms) ::
      ("tactics", Json.arr acc.tactics) :: ("holes", num acc.holes) :: fields
    if isTheoremLike stx && !hasErr then
      let full := match name? with
        | some n => scopeNs st.scopes ++ n
        | none => Name.anonymous
      if let some (declared, _) := (if full == Name.anonymous then none else findDecl st.env full) then
        let ctx ← coreCtx srv lim
        match ← runCore (auditConst st.env declared) ctx { env := st.env } with
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
  let preFailed ← elabPrefix srv lim trusted preCtx {} 0
  let inputCtx : InputContext := { inputString := code, fileName := "<trace>", fileMap := FileMap.ofString code }
  let decls ← traceCommands srv lim trusted inputCtx {} 1 []
  set saved
  return ok [("declarations", jsonArr decls), ("prefix_failed", num preFailed)]

def handle (srv : Server) (line : String) : CommandElabM Answer := do
  match Json.parse line with
  | .error e => return err ("malformed JSON: " ++ e)
  | .ok j =>
    let some cmd := getStr j "cmd" | return err "missing string field `cmd`"
    if cmd == "start" then handleStart srv j
    else if cmd == "tactic" then handleTactic srv j
    else if cmd == "check" then handleCheck srv j ((getBool j "trusted").getD false)
    else if cmd == "add" then handleCheck srv j true
    else if cmd == "trace" then handleTrace srv j ((getBool j "trusted").getD false)
    else if cmd == "stats" then handleStats srv
    else if cmd == "clear" then handleClear srv
    else return err ("unknown command `" ++ cmd ++ "`")

def reply (out : IO.FS.Handle) (id : Json) (answer : Answer) : IO Unit := do
  out.putStrLn ("@@LS@@ " ++ (Json.mkObj (("id", id) :: answer)).compress)
  out.flush

partial def loop (srv : Server) (inp out : IO.FS.Handle) : CommandElabM Unit := do
  let line ← inp.getLine
  if line.isEmpty then return  -- end of input: shut down
  if line == "\n" then loop srv inp out else
  writeRef srv.requests ((← readRef srv.requests) + 1)
  let id := match Json.parse line with
    | .ok j => match j.getObjVal? "id" with | .ok v => v | .error _ => Json.null
    | .error _ => Json.null
  let answer ← try handle srv line
    catch e => pure (err ("internal error: " ++ (← exceptionText e)))
  reply out id answer
  loop srv inp out

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
  out.putStrLn ("@@LS@@ " ++ (Json.mkObj [("ready", Json.bool true)]).compress)
  out.flush
  loop srv inp out

end LeanServer
