package vsphere

import (
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/ovf/importer"
)

// OVFNetworks reads an OVF or OVA file (an .ova is a tar holding the .ovf)
// and returns the names of the networks it declares, in its order: what
// an import maps to target portgroups.
func OVFNetworks(path string) ([]string, error) {
	var archive importer.Archive = &importer.FileArchive{Path: path}
	ovfPath := path
	if strings.EqualFold(filepath.Ext(path), ".ova") {
		archive, ovfPath = &importer.TapeArchive{Path: path}, "*.ovf"
	}
	data, err := importer.ReadOvf(ovfPath, archive)
	if err != nil {
		return nil, err
	}
	env, err := importer.ReadEnvelope(data)
	if err != nil {
		return nil, err
	}
	if env.Network == nil {
		return nil, nil
	}
	names := make([]string, 0, len(env.Network.Networks))
	for _, n := range env.Network.Networks {
		names = append(names, n.Name)
	}
	return names, nil
}
