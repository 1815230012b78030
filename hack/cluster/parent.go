package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// parentPIDEnv, when set to the PID of the process that starts a component,
// ties the component's life to that parent: Linux sends it SIGKILL when the
// parent exits (PR_SET_PDEATHSIG), so a test run that dies without stopping its
// cluster leaves no process behind. A detached cluster does not set it.
const parentPIDEnv = "LOCALKUBE_PARENT_PID"

// init runs on the main OS thread (the Go runtime locks the main goroutine to
// it during initialization); the parent-death signal belongs to that thread.
func init() {
	want := os.Getenv(parentPIDEnv)
	if want == "" {
		return
	}
	_ = os.Unsetenv(parentPIDEnv)
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "localkube: prctl(PR_SET_PDEATHSIG): %v\n", errno)
		os.Exit(1)
	}
	if strconv.Itoa(os.Getppid()) != want { // the parent exited before the signal was armed
		os.Exit(1)
	}
}
