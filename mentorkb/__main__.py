from mentorkb.cli import main

main()
