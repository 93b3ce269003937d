"""What a user does to the images already made: curate them, delete them, keep the store honest.

One API serves two faces, the command line and ``kiln serve``; neither writes curation any
other way.
"""
