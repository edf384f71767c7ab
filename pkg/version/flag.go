package version

import (
	"flag"
	"fmt"
	"io"
	"os"

	"k8s.io/klog/v2"
)

// Flag is a --version flag on a std flag.FlagSet.
type Flag struct {
	program string
	set     *bool
	out     io.Writer
	exit    func(int)
	log     func(program string, info Info)
}

// AddFlag registers --version on fs for the named program. Call Handle
// once fs is parsed.
func AddFlag(fs *flag.FlagSet, program string) *Flag {
	return &Flag{
		program: program,
		set:     fs.Bool("version", false, "Print the version and exit."),
		out:     os.Stdout,
		exit:    os.Exit,
		log: func(program string, info Info) {
			// Depth 2: the line names the caller of Handle, main.
			klog.InfoSDepth(2, "Starting "+program, "version", info.Version, "revision", info.Revision, "buildDate", info.BuildDate, "goVersion", info.GoVersion, "platform", info.Platform)
		},
	}
}

// Handle, after the flags are parsed: with --version it prints
// "<program> <version> (revision ..., built ..., ...)" to stdout and exits
// 0; otherwise it logs the version (through klog, so the logging flags
// apply) as the program's first line and returns.
func (f *Flag) Handle() {
	info := Get()
	if *f.set {
		fmt.Fprintf(f.out, "%s %s\n", f.program, info)
		f.exit(0)
		return
	}
	f.log(f.program, info)
}
