"""One module per ``vllm-serving`` sub-command, named like the command (check-args -> check_args.py), each a
thin ``main(argv) -> int``: it parses the arguments, asks the libraries (verdict, sizing, bake/, cluster/,
pipeline/, preflight/, loadtest/, gcp/, ...) and prints. A command module imports no other command module and
no library imports one (tests/test_command_modules.py); what two commands share lives in a library."""
