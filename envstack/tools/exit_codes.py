"""The exit codes every `envstack` command shares."""

EXIT_OK = 0
EXIT_REFUSED = 1  # a mandatory policy violation, a refused promotion, a failed check
EXIT_BAD_INPUT = 2  # bad configuration, an unknown stack, an unreadable file
EXIT_INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as a shell reports it
