package framework

import (
	"fmt"
	"os"
	"strings"
)

// DocYAML returns the first ```yaml block under the "## <heading>" section
// of a Markdown page, so tests can check that what the docs tell an admin to
// apply is what the code needs (or what the chart renders).
func DocYAML(path, heading string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	_, section, ok := strings.Cut(string(data), "\n## "+heading+"\n")
	if !ok {
		return "", fmt.Errorf("%s has no %q section", path, heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		return "", fmt.Errorf("%s: no yaml block under %q", path, heading)
	}
	block, _, _ = strings.Cut(block, "```")
	return block, nil
}
