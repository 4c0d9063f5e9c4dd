"""Media domain: product image uploads to object storage, validation, thumbnails, clips."""
