from mdreg.cli import main

main()
