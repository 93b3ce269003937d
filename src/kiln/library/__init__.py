"""What a user does to the images already made: curate them, look at their history, export it.

One API serves two faces, the command line and ``kiln serve``; neither writes curation any
other way.
"""
