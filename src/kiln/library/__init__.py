"""What a user does to the images already made: curate them, delete them, keep the store honest."""
