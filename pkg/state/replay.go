package state

// Replay applies one journal entry to a record, as Rebuild does: for
// stores that keep the journal elsewhere than in a file (the database).
func Replay(st *State, e *Entry) error { return replay(st, e) }
