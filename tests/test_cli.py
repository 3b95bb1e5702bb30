from snn.cli import build_parser, main


def test_help_lists_no_unknown_command(capsys):
    assert main([]) == 2
    build_parser()  # every command module imports and declares its options
