package state

import (
	"bytes"
	"encoding/hex"
	"errors"
	"hash/crc32"
)

// Every journal line of format 3 ends with its own checksum, as the last
// member of its JSON object: ...,"sum":"1a2b3c4d"}. The sum is the CRC-32C
// (Castagnoli, as LevelDB's and etcd's write-ahead logs use) of the line
// with that member taken out, so a reader can tell a damaged line (a
// flipped bit in a network name, a status) from a sound one: CRC-32C
// catches every error of up to 32 bits in a row. A line with no sum is
// accepted only in a journal started by a wavectl of format 2.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	sumPrefix = `,"sum":"`
	sumLen    = len(sumPrefix) + 8 + len(`"}`)
)

// errLineSum is a journal line whose checksum does not match it.
var errLineSum = errors.New("its checksum does not match its content: the line was changed or damaged after wavectl wrote it")

// sealLine appends the checksum member to a marshalled JSON object (which
// ends in '}') and a newline.
func sealLine(dst, obj []byte) []byte {
	var sum [4]byte
	c := crc32.Checksum(obj, castagnoli)
	sum[0], sum[1], sum[2], sum[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	dst = append(dst, obj[:len(obj)-1]...)
	dst = append(dst, sumPrefix...)
	dst = hex.AppendEncode(dst, sum[:])
	return append(dst, "\"}\n"...)
}

// openLine checks a journal line's checksum and returns the line as it was
// before sealing. sealed says whether it had a checksum at all.
func openLine(line []byte) (obj []byte, sealed bool, err error) {
	n := len(line)
	if n < sumLen+2 || !bytes.HasPrefix(line[n-sumLen:], []byte(sumPrefix)) || !bytes.HasSuffix(line, []byte(`"}`)) {
		return line, false, nil
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], line[n-sumLen+len(sumPrefix):n-2]); err != nil {
		return nil, true, errLineSum
	}
	obj = make([]byte, 0, n-sumLen+1)
	obj = append(append(obj, line[:n-sumLen]...), '}')
	c := crc32.Checksum(obj, castagnoli)
	if byte(c>>24) != want[0] || byte(c>>16) != want[1] || byte(c>>8) != want[2] || byte(c) != want[3] {
		return nil, true, errLineSum
	}
	return obj, true, nil
}
