package plan

import "strings"

// positions maps a value's path in the plan (applications[2].vms[0]) to where
// it was written. Keys of mappings are stored as path + "#key".
type positions map[string]Pos

// Pos returns where the value at path was written. For a value that was
// left out it returns the position of the nearest enclosing value that was
// written, so a message about a missing field points at its parent.
func (p *Plan) Pos(path string) Pos {
	for {
		if pos, ok := p.pos[path]; ok {
			return pos
		}
		if path == "" {
			return Pos{File: p.File, Line: 1, Column: 1}
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// KeyPos returns where the key of the field at path was written, falling
// back to the value's position.
func (p *Plan) KeyPos(path string) Pos {
	if pos, ok := p.pos[path+"#key"]; ok {
		return pos
	}
	return p.Pos(path)
}
