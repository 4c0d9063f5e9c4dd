module stormgen

go 1.19
