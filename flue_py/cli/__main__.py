from flue_py.cli import main

main()
