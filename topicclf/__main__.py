"""`python -m topicclf` runs the command line."""

from topicclf.cli import main

main()
