module zentoo.test/pause

go 1.22
