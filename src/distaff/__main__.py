from distaff.cli import main

main()
