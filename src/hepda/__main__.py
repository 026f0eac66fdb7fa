"""``python -m hepda`` runs the command line."""

from hepda.cli import main

if __name__ == "__main__":
    main()
